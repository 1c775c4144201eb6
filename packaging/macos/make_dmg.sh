#!/usr/bin/env bash
# Kestrel for macOS: the .app (PyInstaller's BUNDLE in packaging/kestrel.spec) in a drag-to-install .dmg.
#
#   .venv/bin/python packaging/build.py && bash packaging/macos/make_dmg.sh
#
# Output: dist/Kestrel-<version>.dmg holding Kestrel.app and a link to /Applications. The app is signed
# ad hoc (enough to run on the machine that built it and in CI). To ship it to others, sign with a
# Developer ID and notarize instead, e.g. KESTREL_SIGN_ID="Developer ID Application: NAME (TEAM)":
#   codesign --force --deep --options runtime --timestamp --sign "$KESTREL_SIGN_ID" dist/Kestrel.app
#   xcrun notarytool submit dist/Kestrel-<version>.dmg --keychain-profile PROFILE --wait
#   xcrun stapler staple dist/Kestrel-<version>.dmg
set -euo pipefail
cd "$(dirname "$0")/../.."
APP=dist/Kestrel.app
[ -d "$APP" ] || { echo "no $APP: run packaging/build.py first" >&2; exit 2; }
VERSION=$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
codesign --force --deep --sign "${KESTREL_SIGN_ID:--}" "$APP"
codesign --verify --deep --strict "$APP"
STAGE=build/dmg
rm -rf "$STAGE" && mkdir -p "$STAGE"
cp -R "$APP" "$STAGE/"
ln -s /Applications "$STAGE/Applications"
DMG="dist/Kestrel-$VERSION.dmg"
rm -f "$DMG"
hdiutil create -volname "Kestrel $VERSION" -srcfolder "$STAGE" -ov -format UDZO "$DMG"
hdiutil verify "$DMG"
echo "built $DMG"
