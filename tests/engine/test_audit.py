"""The audit trail against a tamperer: a real SQLite file, a realistic trail, hypothesis-generated mutations.

Every mutation is made the way an attacker with the file would: raw sqlite3, triggers dropped first. Each
test asserts the exact ``first_bad_seq`` (see app/engine/audit/verify.py for which record is named).
"""
from __future__ import annotations

import dataclasses
import json
import re
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from app.engine.audit.checkpoint import Checkpoint
from app.engine.audit.log import GENESIS, AuditError, AuditLog, canonical_json, chain_hash, record_of
from app.engine.audit.records import message_payload
from app.engine.audit.verify import verify
from app.engine.core import messages as m
from app.engine.core.clock import SimClock
from app.engine.core.store import Store

KEY = bytes(range(32))
FIELDS = ("ts_utc_ms", "mono_ns", "kind", "actor", "payload", "prev_hash", "hash")
ROWS = ("SELECT seq, ts_utc_ms, mono_ns, CAST(kind AS BLOB), CAST(actor AS BLOB), CAST(payload AS BLOB), "
        "CAST(prev_hash AS BLOB), CAST(hash AS BLOB) FROM audit ORDER BY seq")
HYP = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def write_trail(audit: AuditLog, clock: SimClock, orders: range = range(60)) -> None:
    """A realistic session: submits, denials with reasons, fills, cancels, a kill, a reset, a limit change."""
    for i in orders:
        clock.advance(137)
        cid, now = f"K-{i:05d}", clock.now_ms()
        sub = m.SubmitOrder(cid, "BTC/USDT", "sim", m.Side.BUY if i % 2 else m.Side.SELL, m.OrderType.LIMIT,
                            0.01 * (i + 1), 60_000.0 + i, actor="strategy:mm" if i % 3 else "manual", ts=now)
        audit.append_event(sub)
        if i % 7 == 3:
            audit.append_event(m.OrderDenied(cid, "BTC/USDT", "MAX_NOTIONAL", "notional over the limit",
                                             limit="25000", observed=f"{26000 + i}", actor=sub.actor, ts=now))
            continue
        audit.append_event(m.OrderSubmitted(cid, "BTC/USDT", "sim", ts=clock.now_ms()))
        audit.append_event(m.OrderAccepted(cid, f"V{i}", "BTC/USDT", ts=clock.now_ms()))
        if i % 5 == 4:
            audit.append_event(m.OrderCanceled(cid, "BTC/USDT", "user", ts=clock.now_ms()))
            continue
        audit.append_event(m.OrderFilled(cid, f"V{i}", f"T{i}", "BTC/USDT", "sim", sub.side, sub.price or 0.0,
                                         sub.quantity, 0.012, "USDT", "TAKER", ts=clock.now_ms()))
        audit.append_event(m.OrderUpdated(cid, m.OrderStatus.FILLED, sub.quantity, sub.price or 0.0, now))
        if i == 30:
            halted, active = m.TradingState.HALTED, m.TradingState.ACTIVE
            audit.append("Command", "cli", {"command": "risk halt", "reason": "desk call"})
            audit.append_event(m.TradingStateChanged(halted, active, "kill switch", "cli", now))
            audit.append_event(m.TradingStateChanged(active, halted, "reset: checked with desk — 风控 ok",
                                                     "manual", now))
            audit.append("LimitChanged", "risk-panel", {"name": "max_notional_manual", "old": "50000",
                                                        "new": "40000", "reason": "volatility"})


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A closed profile database with ~300 records, a checkpoint of its last record, and a folder of
    periodic checkpoints (every 50 records), both outside the profile."""
    root = tmp_path_factory.mktemp("audit")
    clock = SimClock(1_750_000_000_000)
    store = Store(root / "profile" / "kestrel.db")
    audit = AuditLog(store.conn, clock)
    periodic = root / "checkpoints"
    for start in range(0, 60, 4):
        write_trail(audit, clock, range(start, start + 4))
        audit.maybe_checkpoint(50, periodic, KEY)
    write_trail(audit, clock, range(60, 66))
    cp = audit.export_checkpoint(root / "last.json", KEY)
    n = audit.head[0]
    every = rows(store.conn)
    store.close()
    assert 250 <= n <= 400 and cp.seq == n
    return {"db": root / "profile" / "kestrel.db", "n": n, "cp": root / "last.json", "periodic": periodic,
            "rows": every}


@pytest.fixture
def copy(pristine):
    """A function returning a fresh, writable copy of the pristine database (usable inside @given)."""
    made = []

    def make() -> tuple[Path, sqlite3.Connection]:
        d = tempfile.TemporaryDirectory()
        path = Path(d.name) / "kestrel.db"
        shutil.copy(pristine["db"], path)
        conn = sqlite3.connect(path, isolation_level=None)
        made.append((d, conn))
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall():
            conn.execute(f"DROP TRIGGER {name}")  # what a tamperer does first
        return path, conn

    yield make
    for d, conn in made:
        conn.close()
        d.cleanup()


def rows(conn: sqlite3.Connection) -> list[tuple]:
    return conn.execute(ROWS).fetchall()


def store_value(text: bytes, as_int: bool):
    """How an attacker writes a mutated value back: an int if it is one, else text, else a blob."""
    if as_int and re.fullmatch(rb"-?[0-9]+", text):
        return int(text)
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError:
        return text


def without_constraints(conn: sqlite3.Connection) -> None:
    """Recreate the audit table with no NOT NULL constraints, keeping every row (what a tamperer can do)."""
    conn.execute("CREATE TABLE audit2 (seq INTEGER PRIMARY KEY, ts_utc_ms, mono_ns, kind, actor, payload, "
                 "prev_hash, hash)")
    conn.execute("INSERT INTO audit2 SELECT * FROM audit")
    conn.execute("DROP TABLE audit")
    conn.execute("ALTER TABLE audit2 RENAME TO audit")


def rebuild_from(conn: sqlite3.Connection, k: int) -> None:
    """Recompute every hash from record k on, as a careful attacker would after changing record k."""
    all_rows = rows(conn)
    prev = all_rows[k - 2][7] if k > 1 else GENESIS.encode()
    conn.execute("BEGIN")
    for seq, ts, mono, kind, actor, payload, _, _ in all_rows[k - 1:]:
        digest = chain_hash(prev, seq, ts, mono, kind, actor, payload)
        conn.execute("UPDATE audit SET prev_hash=?, hash=? WHERE seq=?", (prev.decode(), digest, seq))
        prev = digest.encode()
    conn.execute("COMMIT")


def assert_bad(r, seq: int, torn: bool = False) -> None:
    assert not r.ok and r.first_bad_seq == seq and r.torn_tail is torn, r
    assert r.records == seq - 1 and str(seq) in r.problem, r


# ------------------------------------------------------------------------------------------ intact trail
def test_intact_trail_verifies_and_matches_its_checkpoints(pristine):
    r = verify(pristine["db"])
    assert r.ok and r.records == r.last_seq == pristine["n"] and r.first_bad_seq is None and not r.torn_tail
    assert len(r.last_hash) == 64 and r.profile_id
    assert verify(pristine["db"], pristine["cp"], KEY).checkpoint_seq == pristine["n"]
    periodic = sorted(Checkpoint.load(p).seq for p in pristine["periodic"].glob("*.json"))
    assert len(periodic) >= 5 and all(b - a >= 50 for a, b in zip(periodic, periodic[1:]))
    assert verify(pristine["db"], pristine["periodic"], KEY).ok


def test_records_are_canonical_and_carry_kind_actor_and_enum_values(pristine):
    conn = sqlite3.connect(pristine["db"])
    got = conn.execute("SELECT kind, actor, payload FROM audit WHERE kind='OrderDenied' LIMIT 1").fetchone()
    assert got[1] == "manual" or got[1].startswith("strategy:")
    assert json.loads(got[2])["reason"] == "MAX_NOTIONAL"
    assert " " not in got[2].replace("notional over the limit", "")
    kinds = {k for (k,) in conn.execute("SELECT DISTINCT kind FROM audit")}
    assert {"AuditStarted", "SubmitOrder", "OrderDenied", "OrderFilled", "TradingStateChanged",
            "LimitChanged", "Command"} <= kinds
    halted = conn.execute("SELECT payload FROM audit WHERE kind='TradingStateChanged'").fetchone()[0]
    assert '"state":"HALTED"' in halted and '"previous":"ACTIVE"' in halted
    ts_mono = conn.execute("SELECT ts_utc_ms, mono_ns FROM audit WHERE seq=2").fetchone()
    assert all(isinstance(x, int) for x in ts_mono)
    conn.close()
    fill = m.OrderFilled("c", "v", "t", "X", "sim", m.Side.BUY, 1.5, 2.0, 0.0, "U", "MAKER")
    kind, actor, payload = record_of(fill)
    assert (kind, actor, payload["side"]) == ("OrderFilled", "system", "BUY") and type(payload["side"]) is str
    assert canonical_json({"b": 1, "a": [1, 2], "c": "é"}) == '{"a":[1,2],"b":1,"c":"é"}'


def _message_strategy():
    """Every bus message class, hypothesis-chosen values (scalars, enums, tuples, dicts) in each field."""
    scalar = st.one_of(st.text(max_size=12), st.floats(allow_nan=True, allow_infinity=True), st.integers(),
                       st.booleans(), st.none(), st.sampled_from(list(m.Side) + list(m.OrderStatus)))
    nested = st.one_of(st.tuples(st.tuples(st.floats(), st.floats())),
                       st.dictionaries(st.text(max_size=5), scalar, max_size=3))
    classes = [c for c in vars(m).values() if isinstance(c, type) and c.__module__ == m.__name__
               and dataclasses.is_dataclass(c)]

    @st.composite
    def build(draw):
        cls = draw(st.sampled_from(classes))
        values = {f.name: draw(st.one_of(scalar, nested)) for f in dataclasses.fields(cls)}
        obj = object.__new__(cls)
        for name, value in values.items():
            object.__setattr__(obj, name, value)
        return obj

    return build()


@HYP
@given(msg=_message_strategy(), actor=st.sampled_from([None, "", "cli", "risk-panel"]))
def test_the_hot_path_encoder_writes_exactly_the_canonical_json(msg, actor):
    kind, who, payload = record_of(msg, actor)
    assert message_payload(msg, actor) == (kind, who, canonical_json(payload))


# ------------------------------------------------------------------------------------------- mutations
@HYP
@given(data=st.data())
def test_one_changed_byte_in_any_field_names_that_record(copy, pristine, data):
    path, conn = copy()
    n = pristine["n"]
    k = data.draw(st.integers(1, n), label="seq")
    field = data.draw(st.sampled_from(FIELDS), label="field")
    old = conn.execute(f"SELECT CAST({field} AS BLOB) FROM audit WHERE seq=?", (k,)).fetchone()[0]
    pos = data.draw(st.integers(0, len(old) - 1), label="byte")
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != old[pos]), label="new byte")
    new = old[:pos] + bytes([byte]) + old[pos + 1:]
    as_int = field in ("ts_utc_ms", "mono_ns")
    conn.execute(f"UPDATE audit SET {field}=? WHERE seq=?", (store_value(new, as_int), k))
    assume(rows(conn)[k - 1] != pristine["rows"][k - 1])  # e.g. "+17..." read back as the same integer
    torn = False
    if k == n and field == "payload":
        try:
            json.loads(new)
        except ValueError:
            torn = True
    assert_bad(verify(path), k, torn=torn)


@HYP
@given(data=st.data())
def test_a_changed_seq_is_named(copy, pristine, data):
    path, conn = copy()
    n = pristine["n"]
    k = data.draw(st.integers(1, n))
    v = data.draw(st.integers(-5, 0) | st.integers(n + 1, n + 50))
    conn.execute("UPDATE audit SET seq=? WHERE seq=?", (v, k))
    r = verify(path)
    assert not r.ok and r.first_bad_seq == min(k, v) and not r.torn_tail, r


@HYP
@given(data=st.data())
def test_a_deleted_record_is_named_renumbered_or_not(copy, pristine, data):
    path, conn = copy()
    k = data.draw(st.integers(1, pristine["n"] - 1))
    conn.execute("DELETE FROM audit WHERE seq=?", (k,))
    if data.draw(st.booleans(), label="renumber the rest"):
        conn.execute("UPDATE audit SET seq=-(seq-1) WHERE seq>?", (k,))
        conn.execute("UPDATE audit SET seq=-seq WHERE seq<0")
    assert_bad(verify(path), k)


@HYP
@given(data=st.data())
def test_an_inserted_forged_record_is_caught(copy, pristine, data):
    path, conn = copy()
    n = pristine["n"]
    p = data.draw(st.integers(1, n), label="position")
    chained = data.draw(st.booleans(), label="forged with a correct link and hash")
    payload = canonical_json({"client_order_id": data.draw(st.text(max_size=8)),
                              "quantity": data.draw(st.floats(0, 9))})
    conn.execute("UPDATE audit SET seq=-(seq+1) WHERE seq>=?", (p,))
    conn.execute("UPDATE audit SET seq=-seq WHERE seq<0")
    prev = conn.execute("SELECT hash FROM audit WHERE seq=?", (p - 1,)).fetchone()[0] if p > 1 else GENESIS
    digest = chain_hash(prev.encode(), p, 1, 2, b"OrderFilled", b"manual", payload.encode()) \
        if chained else "ab" * 32
    if not chained:
        prev = data.draw(st.sampled_from(["cd" * 32, prev]), label="prev_hash")
    conn.execute("INSERT INTO audit VALUES (?, 1, 2, 'OrderFilled', 'manual', ?, ?, ?)",
                 (p, payload, prev, digest))
    assert_bad(verify(path), p + 1 if chained else p)


@HYP
@given(data=st.data())
def test_swapped_records_are_caught_at_the_first_one(copy, pristine, data):
    path, conn = copy()
    n = pristine["n"]
    i = data.draw(st.integers(1, n - 1))
    j = data.draw(st.integers(i + 1, n))
    cols = data.draw(st.sampled_from([FIELDS, ("payload",), ("kind", "actor", "payload"),
                                      ("ts_utc_ms", "mono_ns")]))
    a, b = (conn.execute(f"SELECT {', '.join(cols)} FROM audit WHERE seq=?", (s,)).fetchone() for s in (i, j))
    assume(a != b)
    sets = ", ".join(f"{c}=?" for c in cols)
    conn.execute(f"UPDATE audit SET {sets} WHERE seq=?", (*b, i))
    conn.execute(f"UPDATE audit SET {sets} WHERE seq=?", (*a, j))
    assert_bad(verify(path), i)


@HYP
@given(data=st.data())
def test_a_truncated_tail_is_caught_only_against_a_checkpoint(copy, pristine, data):
    path, conn = copy()
    t = data.draw(st.integers(1, pristine["n"] - 1), label="records kept")
    conn.execute("DELETE FROM audit WHERE seq>?", (t,))
    plain = verify(path)
    assert plain.ok and plain.records == t  # a prefix of a chain is a valid chain: hence checkpoints
    r = verify(path, pristine["cp"], KEY)
    assert_bad(r, t + 1)
    assert "truncated" in r.problem


@HYP
@given(data=st.data())
def test_a_rebuilt_chain_is_caught_only_against_a_checkpoint(copy, pristine, data):
    path, conn = copy()
    n = pristine["n"]
    k = data.draw(st.integers(2, n), label="changed record")
    changed = canonical_json({"quantity": data.draw(st.floats(0, 99))})
    conn.execute("UPDATE audit SET payload=? WHERE seq=?", (changed, k))
    rebuild_from(conn, k)
    assert verify(path).ok
    r = verify(path, pristine["cp"], KEY)
    assert not r.ok and r.first_bad_seq == n and "rebuilt" in r.problem and not r.torn_tail, r
    marks = sorted(Checkpoint.load(p).seq for p in pristine["periodic"].glob("*.json"))
    first = next((s for s in marks if s >= k), None)
    r = verify(path, pristine["periodic"], KEY)
    if first is None:  # changed after the last periodic checkpoint: indistinguishable from honest appends
        assert r.ok
    else:
        below = max([s for s in marks if s < k], default=0)
        assert r.first_bad_seq == first and f"seq {below + 1}..{first}" in r.problem, r


def test_a_chain_rebuilt_from_record_1_is_another_trail_to_its_checkpoint(copy, pristine):
    path, conn = copy()
    genesis = canonical_json({"format": 1, "profile_id": "f" * 32})
    conn.execute("UPDATE audit SET payload=? WHERE seq=1", (genesis,))
    rebuild_from(conn, 1)
    assert verify(path).ok
    r = verify(path, pristine["cp"], KEY)
    assert not r.ok and r.first_bad_seq is None and "rebuilt from record 1" in r.problem


def test_a_forged_or_foreign_key_checkpoint_fails_its_signature(copy, pristine, tmp_path):
    path, _ = copy()
    doc = json.loads(pristine["cp"].read_text())
    doc["seq"] -= 1
    (tmp_path / "forged.json").write_text(json.dumps(doc))
    r = verify(path, tmp_path / "forged.json", KEY)
    assert not r.ok and r.first_bad_seq is None and "forged or altered" in r.problem
    cp = Checkpoint.load(pristine["cp"])
    Checkpoint.sign(cp.profile_id, cp.seq, cp.hash, cp.ts_utc_ms, b"x" * 32).write(tmp_path / "other.json")
    assert "use the key it was exported with" in verify(path, tmp_path / "other.json", KEY).problem
    with pytest.raises(ValueError):
        verify(path, pristine["cp"], None)


# ------------------------------------------------------------------------------------------- torn tail
@pytest.mark.parametrize("how", ["null hash", "empty hash", "cut payload"])
def test_a_torn_last_write_is_reported_as_torn_not_tampering(copy, pristine, how):
    path, conn = copy()
    n = pristine["n"]
    if how == "cut payload":
        conn.execute("UPDATE audit SET payload=substr(payload, 1, length(payload)/2) WHERE seq=?", (n,))
    else:
        if how == "null hash":  # a writer whose table allows NULL (ours has NOT NULL): rebuild it without
            without_constraints(conn)
        conn.execute("UPDATE audit SET hash=? WHERE seq=?", (None if how == "null hash" else "", n))
    r = verify(path)
    assert_bad(r, n, torn=True)
    assert "torn write, not tampering" in r.problem
    # A checkpoint covering that record proves it was whole: then it is tampering.
    r = verify(path, pristine["cp"], KEY)
    assert_bad(r, n, torn=False)
    # Beyond the newest checkpoint it stays torn.
    assert verify(path, pristine["periodic"], KEY).torn_tail
    # Nothing can be chained to it: the writer refuses to start rather than fork the trail.
    with pytest.raises(AuditError, match="incomplete"):
        AuditLog(conn, SimClock())


def test_an_incomplete_record_before_the_last_is_tampering(copy, pristine):
    path, conn = copy()
    without_constraints(conn)
    conn.execute("UPDATE audit SET hash=NULL WHERE seq=?", (pristine["n"] - 5,))
    assert_bad(verify(path), pristine["n"] - 5, torn=False)


# --------------------------------------------------------------------------------------- the database
def test_triggers_refuse_update_delete_and_a_non_linking_insert(tmp_path):
    conn = Store(tmp_path / "kestrel.db").conn
    audit = AuditLog(conn, SimClock())
    audit.append("Command", "manual", {"x": 1})
    for sql in ("UPDATE audit SET payload='{}' WHERE seq=2", "DELETE FROM audit WHERE seq=2",
                "DELETE FROM audit",
                "INSERT INTO audit VALUES (3, 1, 2, 'k', 'a', '{}', 'ff', 'ee')",
                "INSERT INTO audit VALUES (9, 1, 2, 'k', 'a', '{}', 'ff', 'ee')",
                "INSERT OR REPLACE INTO audit VALUES (2, 1, 2, 'k', 'a', '{}', 'ff', 'ee')"):
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(sql)
    assert verify(conn).ok and verify(conn).records == 2


def test_two_writers_and_a_rollback_keep_one_chain(tmp_path):
    store = Store(tmp_path / "kestrel.db")
    gui = AuditLog(store.conn, SimClock())
    cli = AuditLog(sqlite3.connect(tmp_path / "kestrel.db", isolation_level=None), SimClock())
    assert cli.profile_id == gui.profile_id
    for i in range(5):
        gui.append("Command", "manual", {"i": i})
        cli.append("Command", "cli", {"i": i})  # kestrel risk halt from a second terminal
    store.conn.execute("BEGIN")
    gui.append("OrderSubmitted", "system", {"rolled": "back"})
    store.conn.execute("ROLLBACK")
    assert gui.append("Command", "manual", {"after": "rollback"}) == 12
    r = verify(tmp_path / "kestrel.db")
    assert r.ok and r.records == 12


def test_checkpoints_sign_only_committed_records(tmp_path):
    store = Store(tmp_path / "p" / "kestrel.db")
    audit = AuditLog(store.conn, SimClock())
    assert audit.maybe_checkpoint(3, tmp_path / "cps", KEY) is None  # 1 record: not due
    for i in range(3):
        audit.append("Command", "manual", {"i": i})
    store.conn.execute("BEGIN")
    with pytest.raises(AuditError, match="commit first"):
        audit.export_checkpoint(tmp_path / "x.json", KEY)
    assert audit.maybe_checkpoint(3, tmp_path / "cps", KEY) is None
    store.conn.execute("COMMIT")
    cp = audit.maybe_checkpoint(3, tmp_path / "cps", KEY)
    assert cp is not None and cp.seq == 4 and cp.signature_ok(KEY) and cp.path.parent == tmp_path / "cps"
    assert audit.maybe_checkpoint(3, tmp_path / "cps", KEY) is None
    assert verify(tmp_path / "p" / "kestrel.db", tmp_path / "cps", KEY).checkpoint_seq == 4


def test_an_emptied_or_dropped_table_is_not_silently_restarted(copy):
    path, conn = copy()
    conn.execute("DELETE FROM audit")
    assert_bad(verify(path), 1)
    with pytest.raises(AuditError, match="deleted"):
        AuditLog(conn, SimClock())
    conn.execute("DROP TABLE audit")
    r = verify(path)
    assert not r.ok and r.first_bad_seq == 1 and "no audit table" in r.problem


def test_verify_never_writes_the_database(pristine):
    before = pristine["db"].read_bytes()
    assert verify(pristine["db"], pristine["cp"], KEY).ok
    assert pristine["db"].read_bytes() == before
