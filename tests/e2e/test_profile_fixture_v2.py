"""The profile fixture of store schema 2 (tests/data/profiles/v2, made by tests/kit/make_v2_profile.py with the
release of instrument ids) and its migration to schema 3 (issue 20: order types, triggers, order lists): every
order, fill, position, working order, strategy, limit and saved venue is carried over; old orders read as the
plain GTC orders they were; the profile is backed up first and can be put back; an order with the new fields
round-trips through the journal; a kill -9 in the middle leaves schema 2 and the next start migrates."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.kit import profiles
from tests.kit.data import DATA
from tests.kit.make_v2_profile import EXPECTED, START
from tests.kit.profiles import schema_version as version

FIXTURE = DATA / "profiles" / "v2"
ROOT = Path(__file__).resolve().parents[2]


def copy_fixture(tmp_path: Path) -> Path:
    return profiles.copy_fixture(FIXTURE, tmp_path / "v2")


def rows(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def open_kernel(profile: Path):
    return profiles.open_kernel(profile, START + 3_600_000)


ORDER_SQL = ("SELECT client_order_id, symbol, venue, side, order_type, quantity, price, actor, status, filled_qty, "
             "avg_price, venue_order_id, reason, created_ts FROM orders ORDER BY client_order_id")


def test_the_v2_profile_migrates_to_schema_3_keeping_every_order_and_what_it_held(tmp_path):
    from app.engine.audit.verify import verify
    from app.engine.core.messages import OrderStatus, TimeInForce, TriggerSource
    from app.engine.core.profile_backup import check_backup

    profile = copy_fixture(tmp_path)
    db = profile / "kestrel.db"
    assert version(db) == 2 and verify(db).ok
    orders_before = rows(db, ORDER_SQL)
    fills_before = rows(db, "SELECT * FROM fills ORDER BY venue, trade_id")
    kernel = open_kernel(profile)
    try:
        positions = {s: p.quantity for s, p in kernel.portfolio.positions.items() if p.quantity}
        assert positions == EXPECTED["positions"]
        orders = kernel.execution.orders
        statuses = sorted(o.status.value for o in orders.values())
        assert statuses.count("DENIED") == EXPECTED["denied"] and statuses.count("CANCELED") >= EXPECTED["canceled"]
        for o in orders.values():  # an order of schema 2 reads as the plain GTC order it was
            assert (o.tif, o.post_only, o.trigger_price, o.trigger_source, o.emulated, o.list_id) == \
                (TimeInForce.GTC, False, None, TriggerSource.LAST, False, None)
        (runner,) = kernel.strategies.host.runners.values()
        assert runner.instance == EXPECTED["strategies"][0] and runner.symbol == "ETH/USDT@sim"
        assert kernel.store.get_setting("ui.charts")["main"] == EXPECTED["chart"]
        assert kernel.risk.limits.max_position == EXPECTED["limit"]
        assert sorted(p.stem for p in (profile / "venues").glob("*.json")) == EXPECTED["venues"]
        assert not any(o.status is OrderStatus.ARMED for o in orders.values())
    finally:
        kernel.close()
    assert version(db) == 3
    after = rows(db, ORDER_SQL)
    # the restart may end the working orders of then (the restarted sim no longer has them): all else is as it was
    assert [r[:8] for r in after] == [r[:8] for r in orders_before]
    assert rows(db, "SELECT * FROM fills ORDER BY venue, trade_id") == fills_before
    assert {r for (r,) in rows(db, "SELECT DISTINCT tif FROM orders")} == {"GTC"}
    assert rows(db, "SELECT COUNT(*) FROM order_lists") == [(0,)]
    report = verify(db)
    assert report.ok, report
    records = [json.loads(p) for (p,) in rows(db, "SELECT payload FROM audit WHERE kind='ProfileMigrated'")]
    assert len(records) == 1 and (records[0]["from"], records[0]["to"]) == (2, 3)
    assert records[0]["mapping"] == {} and records[0]["changed"] == ["orders (issue 20 columns)", "order_lists"]
    (backup,) = (profile / "backups").iterdir()
    assert Path(records[0]["backup"]) == backup and backup.name.startswith("pre-v3-")
    assert check_backup(backup) == [] and version(backup / "kestrel.db") == 2
    assert rows(backup / "kestrel.db", ORDER_SQL) == orders_before

    kernel = open_kernel(profile)  # a second start: nothing more to migrate, back up or record
    kernel.close()
    assert len(list((profile / "backups").iterdir())) == 1


def test_restore_puts_the_v2_profile_back_and_this_release_migrates_it_again(tmp_path, capsys):
    from app.cli.main import main

    profile = copy_fixture(tmp_path)
    open_kernel(profile).close()
    (backup,) = (profile / "backups").iterdir()
    assert main(["profile", "restore", backup.name, "--profile", str(profile)]) == 0
    assert "database schema 2" in capsys.readouterr().out
    assert version(profile / "kestrel.db") == 2
    original = copy_fixture(tmp_path / "original")  # the fixture read from a copy: never opened in place
    assert rows(profile / "kestrel.db", ORDER_SQL) == rows(original / "kestrel.db", ORDER_SQL)


def test_kestrel_risk_works_on_a_profile_not_migrated_yet(tmp_path, capsys):
    """The kill switch from the command line needs nothing but the profile's kill latch: an older profile that no
    terminal has migrated yet is halted, not refused, and its orders table is left for the terminal to migrate."""
    from app.cli.main import main

    profile = copy_fixture(tmp_path)
    assert main(["risk", "halt", "--reason", "a person, before the upgrade's first start",
                 "--profile", str(profile)]) == 0
    assert version(profile / "kestrel.db") == 2
    kernel = open_kernel(profile)
    try:
        assert kernel.risk.state.value == "HALTED"
    finally:
        kernel.close()
    assert version(profile / "kestrel.db") == 3


def test_an_order_with_the_new_fields_round_trips_through_the_journal(tmp_path):
    from app.engine.core.messages import OrderStatus, OrderType, Side, TimeInForce, TriggerSource
    from app.engine.core.store import Store
    from app.engine.oms.orders import Order

    store = Store(tmp_path / "kestrel.db")
    order = Order("K-1", "BTC/USDT@sim", "sim", Side.SELL, OrderType.TRAILING_STOP_LIMIT, 0.5, 60_000.0, "manual",
                  status=OrderStatus.INITIALIZED, trigger_price=61_000.0, tif=TimeInForce.DAY, post_only=False,
                  reduce_only=True, trigger_source=TriggerSource.BID_ASK, trail_amount=250.0, limit_offset=5.0,
                  trail_ref=61_250.0, emulated=True, list_id="L-1", role="SL", parent_id="K-0",
                  expire_ts=1_700_000_000_000, created_ts=1, updated_ts=2)
    order.transition(OrderStatus.ARMED)
    store.stage_order(order.journal_row())
    store.commit()
    (row,) = store.orders()
    back = Order.from_row(row)
    for name in ("client_order_id", "symbol", "venue", "side", "order_type", "quantity", "price", "status",
                 "trigger_price", "tif", "reduce_only", "trigger_source", "trail_amount", "limit_offset",
                 "trail_ref", "emulated", "list_id", "role", "parent_id", "expire_ts"):
        assert getattr(back, name) == getattr(order, name), name
    assert OrderStatus.ARMED.is_open and not OrderStatus.ARMED.is_working
    store.close()


KILL_MID_MIGRATION = r'''
import os, signal, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from app.engine.core import profile_migration as m
real = m._to_v3
def die(conn, done):
    real(conn, done)
    os.kill(os.getpid(), signal.SIGKILL)  # inside the transaction: the columns added, not committed
m._to_v3 = die
m.migrate_profile(Path(sys.argv[1]))
'''


@pytest.mark.skipif(os.name == "nt", reason="kill -9")
def test_kill_9_in_the_middle_of_the_migration_leaves_schema_2_and_the_next_start_migrates(tmp_path):
    profile = copy_fixture(tmp_path)
    proc = subprocess.run([sys.executable, "-c", KILL_MID_MIGRATION, str(profile), str(ROOT)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == -9, proc.stderr
    assert version(profile / "kestrel.db") == 2  # the transaction never committed
    columns = {r[1] for r in rows(profile / "kestrel.db", "PRAGMA table_info(orders)")}
    assert "trigger_price" not in columns
    kernel = open_kernel(profile)
    kernel.close()
    assert version(profile / "kestrel.db") == 3 and len(list((profile / "backups").iterdir())) == 2
