"""Journeys through the stock dialogs a trader meets: picking a bar file for a backtest and for training,
saving the chart as a PNG, and typing the passphrase of the credentials file where there is no OS keyring.
Each is the real modal dialog, shown, answered by typing into it as a person does."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog, QLineEdit, QPushButton

from tests.kit.ui import answer_modal, pump, type_file_name


def bar_file(path: Path, n: int = 400) -> Path:
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    lines = ["timestamp,open,high,low,close,volume"]
    for i, c in enumerate(close):
        lines.append(f"{1_700_000_000_000 + i * 60_000},{c:.4f},{c * 1.002:.4f},{c * 0.998:.4f},{c:.4f},10")
    path.write_text("\n".join(lines) + "\n")
    return path


def browse_button(widget) -> QPushButton:
    return next(b for b in widget.findChildren(QPushButton) if b.text() == "Browse…")


def test_pick_the_backtest_bar_file_in_the_file_dialog(qtbot, window_factory, tmp_path):
    from app.widgets.panels.backtest_dialog import BacktestDialog

    kernel, window = window_factory()
    data = bar_file(tmp_path / "bars.csv")
    dialog = BacktestDialog(kernel.port.strategies, "sma_cross", {})
    qtbot.addWidget(dialog)
    dialog.show()
    seen: list = []
    answer_modal(qtbot, type_file_name(qtbot, data), seen)
    qtbot.mouseClick(browse_button(dialog), Qt.MouseButton.LeftButton)
    assert seen == [("QFileDialog", "Bar data", False)]
    assert dialog.path.text() == str(data)  # what the trader picked is what the backtest reads


def test_pick_the_training_bar_file_in_the_models_dock(qtbot, window_factory, tmp_path):
    kernel, window = window_factory()
    window.docks["ml"].raise_()
    data = bar_file(tmp_path / "train.csv")
    seen: list = []
    answer_modal(qtbot, type_file_name(qtbot, data), seen)
    qtbot.mouseClick(browse_button(window.ml_panel), Qt.MouseButton.LeftButton)
    assert seen == [("QFileDialog", "Bar data", False)]
    assert window.ml_panel.data_path.text() == str(data)


def test_save_the_chart_as_a_png_from_the_chart_menu(qtbot, window_factory, tmp_path):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 300)
    target = tmp_path / "my chart.png"
    seen: list = []
    answer_modal(qtbot, type_file_name(qtbot, target), seen)
    qtbot.mouseClick(window.chart.png_button, Qt.MouseButton.LeftButton)
    assert seen and seen[0][:2] == ("QFileDialog", "Save chart as PNG")
    data = target.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000  # a real image of the chart, not a blank


def test_the_passphrase_dialog_protects_keys_where_there_is_no_keyring(qtbot, window_factory, profile,
                                                                         monkeypatch):
    """No OS keyring and no passphrase in the environment: storing a venue's keys asks for the passphrase of
    the encrypted credentials file (shown as dots), and the keys are then in that file, readable only with it."""
    import keyring
    from keyring.backends import fail

    from app.engine.venues.credentials import CredentialStore
    from app.widgets.panels.venue_dialogs import ConnectDialog

    monkeypatch.delenv("KESTREL_CREDENTIALS_PASSPHRASE", raising=False)
    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        kernel, window = window_factory()
        connected = []
        dialog = ConnectDialog(kernel.port, CredentialStore(profile), lambda cfg, creds: connected.append(creds),
                               None, window)
        qtbot.addWidget(dialog)
        dialog.show()
        qtbot.keyClicks(dialog.api_key, "journey-key-0123456789")
        qtbot.keyClicks(dialog.secret, "journey-secret-abcdef0123")
        seen: list = []

        def respond(box: QInputDialog) -> None:
            edit = box.findChild(QLineEdit)
            assert edit.echoMode() == QLineEdit.EchoMode.Password
            qtbot.keyClicks(edit, "correct horse battery")
            qtbot.keyClick(edit, Qt.Key.Key_Return)
        answer_modal(qtbot, respond, seen)
        qtbot.mouseClick(dialog.connect_button, Qt.MouseButton.LeftButton)
        assert seen and seen[0][:2] == ("QInputDialog", "Credentials passphrase")
        assert connected and connected[0] is not None
        locked = CredentialStore(profile)
        assert locked.needs_passphrase
        stored = locked.with_passphrase("correct horse battery").get(dialog.name.text() or "binance")
        assert stored is not None and stored.api_key == "journey-key-0123456789"
        assert "journey-secret" not in (profile / locked.file.name).read_bytes().decode("latin-1")
    finally:
        keyring.set_keyring(before)
