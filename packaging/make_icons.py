"""Render resources/icons/kestrel.svg into the raster icons the installers need, and commit the results.

    .venv/bin/python packaging/make_icons.py

kestrel.png (256 px: the window icon, the .deb's hicolor icon, PyInstaller's Linux icon), kestrel.ico
(Windows: the executable and the Inno Setup wizard) and kestrel.icns (macOS .app). Run it after editing the
SVG; the builds themselves only read the committed files (no Pillow needed on a build machine).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

ICONS = Path(__file__).resolve().parent.parent / "resources" / "icons"


def render(size: int):
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    QSvgRenderer(str(ICONS / "kestrel.svg")).render(painter)
    painter.end()
    return image


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PIL import Image
    from PySide6.QtGui import QGuiApplication

    QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    png = ICONS / "kestrel.png"
    if not render(256).save(str(png)):
        raise SystemExit(f"could not write {png}")
    big = ICONS / ".kestrel-1024.png"
    render(1024).save(str(big))
    with Image.open(big) as im:
        im.save(ICONS / "kestrel.ico", sizes=[(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128),
                                               (256, 256)])
        im.save(ICONS / "kestrel.icns")
    big.unlink()
    print("wrote", ", ".join(p.name for p in sorted(ICONS.iterdir())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
