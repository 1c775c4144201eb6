"""Strategy manager (placeholder until the plugin system lands): lists what will be managed here."""
from __future__ import annotations

from PySide6.QtWidgets import QLabel, QListWidget, QVBoxLayout, QWidget


class StrategyManagerWidget(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget()
        note = QLabel("Strategy plugins load here once the plugin system is in place. "
                      "The kill switch already stops every strategy.")
        note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addWidget(self.list, 1)

    def refresh(self) -> None:
        pass
