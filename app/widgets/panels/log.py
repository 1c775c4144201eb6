"""Log pane: the same records as the profile's rotating log file, appended at frame rate."""
from __future__ import annotations

from PySide6.QtWidgets import QPlainTextEdit, QVBoxLayout, QWidget

from app.engine.core.logring import RingHandler


class LogPane(QWidget):
    def __init__(self, ring: RingHandler, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ring = ring
        self._seen = 0
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setMaximumBlockCount(2000)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.text)

    def refresh(self) -> None:
        if self._ring.total == self._seen:
            return
        new = [line for n, _lvl, line in self._ring.records if n > self._seen]
        self._seen = self._ring.total
        if new:
            self.text.appendPlainText("\n".join(new))
