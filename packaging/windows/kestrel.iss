; Inno Setup 6 script for Kestrel on Windows (x64). Builds dist\Kestrel-<version>-setup.exe from the
; PyInstaller one-dir bundle dist\kestrel\ (python packaging\build.py makes it).
;
;   iscc /DAppVersion=0.1.0 packaging\windows\kestrel.iss
;
; Paths below are relative to this script's folder (SourceDir). Per-user install by default (no admin
; needed); the wizard offers "all users" (Program Files) when run by an administrator. Uninstall removes the
; program folder only: profiles (%LOCALAPPDATA%\kestrel) and the Numba cache are the trader's data and stay.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif

[Setup]
AppId={{5B0C7E52-2C3E-4C0B-9A57-6C1D2E8A4F11}
AppName=Kestrel
AppVersion={#AppVersion}
AppVerName=Kestrel {#AppVersion}
AppPublisher=Kestrel developers
DefaultDirName={autopf}\Kestrel
DefaultGroupName=Kestrel
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
SourceDir=..\..
OutputDir=dist
OutputBaseFilename=Kestrel-{#AppVersion}-setup
SetupIconFile=resources\icons\kestrel.ico
UninstallDisplayIcon={app}\kestrel.exe
UninstallDisplayName=Kestrel {#AppVersion}
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
; the whole one-dir bundle: kestrel.exe (windowed), kestrel-cli.exe (console: --self-test, the CLI), _internal\
Source: "dist\kestrel\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\Kestrel"; Filename: "{app}\kestrel.exe"; IconFilename: "{app}\kestrel.exe"
Name: "{autodesktop}\Kestrel"; Filename: "{app}\kestrel.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\kestrel.exe"; Description: "{cm:LaunchProgram,Kestrel}"; Flags: nowait postinstall skipifsilent
