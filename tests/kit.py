"""Helpers shared by tests (import as `from kit import ...`)."""
from __future__ import annotations

from pathlib import Path


def advance(kernel, ms: int, step: int = 50) -> None:
    """Move the simulated clock forward, stepping the venue as the live loop would."""
    for _ in range(max(ms // step, 1)):
        kernel.clock.advance(step)
        kernel.step()


def pump(qtbot, kernel, window, ms: int = 200, step: int = 50) -> None:
    """Advance the market and let the UI run one frame per step, as the live loop does."""
    for _ in range(max(ms // step, 1)):
        kernel.clock.advance(step)
        kernel.step()
        window.frames.tick()
    qtbot.wait(1)


def table_column(table, col: int) -> list[str]:
    return [table.item(r, col).text() if table.item(r, col) else "" for r in range(table.rowCount())]


REAL_DATA = Path(__file__).resolve().parent / "data"  # recorded market data the repository holds (tests/data/README.md)


def ashare_daily_csv(path, n: int = 120, seed: int = 11):
    """``path`` (name it like ``600519.SH-1d.csv``): ``n`` daily bars of a random walk around 1,700 on trading
    days from 2024-03-04 (weekends and the Qingming and Labour Day holidays skipped), stamped at midnight
    Beijing time as akshare stamps daily bars."""
    import datetime as dt

    import numpy as np

    days, day = [], dt.date(2024, 3, 4)
    while len(days) < n:
        if day.weekday() < 5 and not (dt.date(2024, 4, 4) <= day <= dt.date(2024, 4, 6)) \
                and not (dt.date(2024, 5, 1) <= day <= dt.date(2024, 5, 5)):
            days.append(day)
        day += dt.timedelta(days=1)
    close = 1700 * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, 0.012, n)))
    lines = ["timestamp,open,high,low,close,volume"]
    beijing = dt.timezone(dt.timedelta(hours=8))
    for d, c in zip(days, close):
        ts = int(dt.datetime(d.year, d.month, d.day, tzinfo=beijing).timestamp() * 1000)
        o = round(c * 0.998, 2)
        lines.append(f"{ts},{o},{round(max(o, c) * 1.004, 2)},{round(min(o, c) * 0.996, 2)},{round(c, 2)},1000000")
    path.write_text("\n".join(lines) + "\n")
    return path


def type_into(field, text: str) -> None:
    """Replace a field's text as a person does: select all, type."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    QTest.keyClick(field, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(field, text)


def choose(combo, text: str) -> None:
    """Pick an entry of a drop-down with the arrow keys."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    QTest.keyClick(combo, Qt.Key.Key_Home)
    for _ in range(combo.count()):
        if combo.currentText() == text:
            return
        QTest.keyClick(combo, Qt.Key.Key_Down)
    assert combo.currentText() == text, f"{text!r} is not in the drop-down"


def write_generated_bars(path, n: int = 1200, seed: int = 9):
    """``n`` bars of the ML module's synthetic market as a bar CSV (training and backtest input)."""
    import csv

    from app.engine.ml.synthetic import generated_bars

    b = generated_bars(n, seed=seed)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "open", "high", "low", "close", "volume"])
        w.writerows(zip(b.ts.tolist(), b.open.tolist(), b.high.tolist(), b.low.tolist(), b.close.tolist(),
                        b.volume.tolist()))
    return path
