"""The "Add indicator" dialog: any indicator of the registry, its typed and bounded parameters."""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel, QListWidget, QListWidgetItem,
    QSpinBox, QVBoxLayout, QWidget,
)

from app.engine.indicators import registry


class IndicatorDialog(QDialog):
    """Pick an indicator (overlays first, then sub-panes) and set its parameters within their bounds."""

    def __init__(self, parent: QWidget | None = None, name: str | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add indicator")
        self.resize(520, 380)
        self.list = QListWidget()
        for kind, title in (("overlay", "on price"), ("subpane", "own pane")):
            for key in sorted(registry):
                spec = registry[key]
                if spec.kind == kind:
                    item = QListWidgetItem(f"{key.upper()}  —  {title}")
                    item.setData(Qt.ItemDataRole.UserRole, key)
                    self.list.addItem(item)
        self.form_host = QWidget()
        self.form = QFormLayout(self.form_host)
        self.doc = QLabel()
        self.doc.setWordWrap(True)
        self.doc.setObjectName("indicatorDoc")
        self.editors: dict[str, QSpinBox | QDoubleSpinBox] = {}
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        right = QVBoxLayout()
        right.addWidget(self.form_host)
        right.addWidget(self.doc)
        right.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.list, 1)
        row.addLayout(right, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(buttons)
        self.list.currentItemChanged.connect(lambda cur, _prev: self._show(cur))
        self.list.itemDoubleClicked.connect(lambda _i: self.accept())
        self.select(name or "sma")

    def select(self, name: str) -> None:
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.ItemDataRole.UserRole) == name.lower():
                self.list.setCurrentRow(row)
                return

    @property
    def name(self) -> str:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else ""

    def params(self) -> dict[str, Any]:
        spec = registry[self.name]
        out: dict[str, Any] = {}
        for p in spec.params:
            ed = self.editors[p.name]
            out[p.name] = int(ed.value()) if p.type is int else float(ed.value())
        return out

    def _show(self, item: QListWidgetItem | None) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.editors.clear()
        if item is None:
            return
        spec = registry[item.data(Qt.ItemDataRole.UserRole)]
        for p in spec.params:
            if p.type is int:
                ed: QSpinBox | QDoubleSpinBox = QSpinBox()
                ed.setRange(int(p.min if p.min is not None else -1_000_000),
                            int(min(p.max if p.max is not None else 1_000_000, 2**31 - 1)))
            else:
                ed = QDoubleSpinBox()
                ed.setDecimals(3)
                ed.setSingleStep(0.1)
                ed.setRange(p.min if p.min is not None else -1e6, p.max if p.max is not None else 1e6)
            ed.setValue(p.default)
            self.form.addRow(p.name, ed)
            self.editors[p.name] = ed
        outputs = ", ".join(spec.outputs)
        self.doc.setText(f"{spec.name.upper()}: inputs {', '.join(spec.inputs)}; outputs {outputs}; drawn "
                         f"{'over the price' if spec.kind == 'overlay' else 'in its own pane'}.")
