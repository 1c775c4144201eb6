"""The backtest's order journal (``ScratchStore``) writes the engine's group commits in batches: it must
still catch a duplicate fill the moment it arrives, as the live journal does, and read back whole."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.engine.backtest.journal import ScratchStore
from app.engine.core.messages import OrderFilled, OrderType, Side
from app.engine.oms.execution import _fill_row
from app.engine.oms.orders import Order


def _fill(cid: str, trade_id: str, qty: float = 1.0) -> tuple:
    return _fill_row(OrderFilled(cid, "v-" + cid, trade_id, "WALK", "BACKTEST", Side.BUY, 100.0, qty, 0.1,
                                 "QUOTE", "TAKER", 1))


@pytest.fixture
def store(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(ScratchStore, "BATCH", 5)
    s = ScratchStore(tmp_path / "backtest.db")
    s.begin_scratch()
    yield s
    s.close()


def test_duplicate_fills_are_caught_at_once_even_while_rows_wait_to_be_written(store):
    order = Order("o1", "WALK", "BACKTEST", Side.BUY, OrderType.MARKET, 2.0, None, "strategy:x")
    store.stage_order(order.journal_row())
    assert store.commit([_fill("o1", "t1")]) == [True]
    # the same trade again (a re-delivered report), inside one commit and in a later one
    assert store.commit([_fill("o1", "t2"), _fill("o1", "t2")]) == [True, False]
    assert store.commit([_fill("o1", "t1")]) == [False]


def test_the_journal_reads_back_whole_across_batches(store):
    for i in range(12):  # more rows than one batch, and a tail that never filled a batch
        order = Order(f"o{i}", "WALK", "BACKTEST", Side.BUY, OrderType.MARKET, 1.0, None, "strategy:x")
        store.stage_order(order.journal_row())
        store.commit([])
        store.stage_order_update(order.client_order_id, "FILLED", 1.0, 100.0 + i, f"v-o{i}", "", 5)
        store.commit([_fill(order.client_order_id, f"t{i}")])
    rows = store.orders()
    assert [r["client_order_id"] for r in rows] == [f"o{i}" for i in range(12)]
    assert all(r["status"] == "FILLED" for r in rows)
    assert [r["avg_price"] for r in rows] == [100.0 + i for i in range(12)]
    assert [f["trade_id"] for f in store.fills()] == [f"t{i}" for i in range(12)]
