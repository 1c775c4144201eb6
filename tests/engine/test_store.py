import sqlite3

import pytest

from app.engine.core.store import SCHEMA_VERSION, RiskStateRecord, Store, StoreError


def test_new_profile_starts_active_and_settings_persist(tmp_path):
    db = tmp_path / "k.db"
    s = Store(db)
    assert s.load_risk_state().state == "ACTIVE"
    s.set_setting("ui.layout", {"a": [1, 2]})
    s.close()
    s = Store(db)
    assert s.get_setting("ui.layout") == {"a": [1, 2]}
    assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    s.close()


def test_kill_latch_survives_reopen(tmp_path):
    db = tmp_path / "k.db"
    s = Store(db)
    s.save_risk_state(RiskStateRecord("global", "HALTED", "test", "me", 1))
    s.close()
    assert Store(db).load_risk_state().state == "HALTED"


def test_missing_or_corrupt_risk_record_fails_closed(tmp_path):
    db = tmp_path / "k.db"
    s = Store(db)
    s.conn.execute("DELETE FROM risk_state")
    assert s.load_risk_state().state == "HALTED"
    s.conn.execute("INSERT INTO risk_state VALUES ('global', 'BANANA', '', '', 0)")
    rec = s.load_risk_state()
    assert rec.state == "HALTED" and "corrupt" in rec.reason
    s.close()


def test_not_sqlite_file_is_refused_and_left_untouched(tmp_path):
    db = tmp_path / "k.db"
    junk = b"this is not a database" * 50
    db.write_bytes(junk)
    with pytest.raises(StoreError, match="not a SQLite file"):
        Store(db)
    assert db.read_bytes() == junk


def test_damaged_database_is_refused_and_left_untouched(tmp_path):
    db = tmp_path / "k.db"
    s = Store(db)
    for i in range(300):
        s.record_fill({"venue": "sim", "trade_id": f"T{i}", "client_order_id": "c", "symbol": "X", "side": "BUY",
                       "price": 1.0, "quantity": 1.0, "fee": 0.0, "fee_currency": "U", "liquidity": "TAKER", "ts": i})
    s.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    s.close()
    raw = bytearray(db.read_bytes())
    for page in range(1, len(raw) // 4096):  # smash every b-tree page header, keep the file header
        raw[page * 4096: page * 4096 + 64] = b"\xa5" * 64
    db.write_bytes(bytes(raw))
    with pytest.raises(StoreError) as err:
        Store(db)
    assert "untouched" in str(err.value)
    assert db.read_bytes() == bytes(raw)


def test_newer_schema_is_refused(tmp_path):
    db = tmp_path / "k.db"
    Store(db).close()
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    conn.commit()
    conn.close()
    before = db.read_bytes()
    with pytest.raises(StoreError, match="newer Kestrel"):
        Store(db)
    assert db.read_bytes() == before


def test_locked_database_gives_a_clear_error(tmp_path):
    db = tmp_path / "k.db"
    Store(db).close()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="locked"):
            Store(db)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_fills_are_deduplicated_by_venue_trade_id(tmp_path):
    s = Store(tmp_path / "k.db")
    row = {"venue": "sim", "trade_id": "T1", "client_order_id": "c", "symbol": "X", "side": "BUY",
           "price": 1.0, "quantity": 1.0, "fee": 0.0, "fee_currency": "U", "liquidity": "TAKER", "ts": 1}
    assert s.record_fill(row) is True
    assert s.record_fill(row) is False
    assert s.record_fill({**row, "venue": "other"}) is True
    assert len(list(s.fills())) == 2


def _fill(trade_id, venue="sim"):
    return (venue, trade_id, "c1", "X", "BUY", 1.0, 1.0, 0.0, "U", "TAKER", 1)


def _order(cid, status="SUBMITTED"):
    from app.engine.core.messages import OrderStatus, OrderType, Side
    from app.engine.oms.orders import Order

    return Order(cid, "X", "sim", Side.BUY, OrderType.MARKET, 1.0, None, "manual", OrderStatus(status),
                 created_ts=1, updated_ts=1).journal_row()


def test_group_commit_writes_staged_orders_and_fills_in_one_transaction_and_flags_duplicates(tmp_path):
    s = Store(tmp_path / "k.db")
    s.stage_order(_order("c1"))
    s.stage_order_update("c1", "ACCEPTED", 0.0, 0.0, "V1", "", 2)
    s.stage_order_update("c1", "FILLED", 1.0, 1.0, None, "", 3)  # the later state of the same order wins
    assert s.commit([_fill("T1"), _fill("T1"), _fill("T2")]) == [True, False, True]  # a duplicate in the batch
    other = Store(tmp_path / "k.db")  # what another process (or a restart) sees
    (row,) = other.orders()
    assert (row["status"], row["filled_qty"], row["venue_order_id"]) == ("FILLED", 1.0, "V1")
    assert s.commit([_fill("T2")]) == [False]  # already recorded: a duplicate delivery
    assert len(list(other.fills())) == 2
    other.close()
    s.close()


def test_staged_rows_are_not_visible_outside_until_committed_and_survive_a_failed_commit(tmp_path):
    s = Store(tmp_path / "k.db")
    s.stage_order(_order("c1"))
    other = sqlite3.connect(tmp_path / "k.db")
    assert other.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 0  # staged: in memory only
    blocker = sqlite3.connect(tmp_path / "k.db", isolation_level=None, timeout=0)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the database
    s.conn.execute("PRAGMA busy_timeout=0")
    with pytest.raises(sqlite3.OperationalError):
        s.commit()
    blocker.execute("ROLLBACK")
    assert s.staged  # kept for the next attempt
    s.commit()
    assert other.execute("SELECT status FROM orders").fetchall() == [("SUBMITTED",)]
    other.close()
    blocker.close()
    s.close()
