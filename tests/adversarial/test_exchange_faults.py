"""A faulty exchange: every broken reply the fake Binance can send, on every request an order depends on.

One real terminal (kernel, journal in a real SQLite file, the ccxt adapter running real ccxt) trades against
the fake exchange on 127.0.0.1 for the whole module; each case breaks one reply of one operation:

  create       POST /api/v3/order       (the order may or may not have been placed: ``reached``)
  lookup       GET  /api/v3/order       while an UNKNOWN create is looked up by its client order id
  poll lookup  GET  /api/v3/order       while the poll looks up an order that left the open orders
  cancel       DELETE /api/v3/order     (the cancel may or may not have taken effect)
  open orders  GET  /api/v3/openOrders  the poll of the venue's open orders

and checks what a trader relies on: nothing is sent twice, no order is journaled without (or with another
order's) venue id, the terminal keeps running, a person can read what happened (the order's reason, an
alert, or the log), and the venue serves orders again once the exchange behaves.
"""
from __future__ import annotations

import asyncio
import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.engine.core.messages import Alert, CancelRejected, OrderStatus, OrderType, Side, VenueStatus
from app.engine.venues.events import OrderStatusUnknown, VenueError
from tests.kit.venues import Session, make_fake, no_internet, served_more  # noqa: F401 (no_internet: autouse)
from tests.kit.wait import until

S = OrderStatus
ROUTES = {"create": "POST /api/v3/order", "lookup": "GET /api/v3/order", "poll lookup": "GET /api/v3/order",
          "cancel": "DELETE /api/v3/order", "open orders": "GET /api/v3/openOrders"}
TIMEOUT_S = 0.6  # ccxt's timeout in this module; the "timeout" fault answers after 1 s


@dataclass(frozen=True)
class Case:
    op: str
    fault: str
    says: str | tuple[str, ...]  # what a person reads about it (order reason, alert or log), verbatim
    reached: bool | None = None  # the exchange acted on the request before its reply broke (None: default)
    n: int = 1

    @property
    def id(self) -> str:
        placed = "" if self.reached is None else ("-acted" if self.reached else "-not-acted")
        return f"{self.op.replace(' ', '-')}-{self.fault}{placed}" + (f"-x{self.n}" if self.n > 1 else "")


UNREADABLE = {  # fault -> how the trader is told the body was unreadable
    "malformed": "body that is not valid JSON (malformed",
    "truncated": "body that is not valid JSON (cut off",
    "html": "HTML page instead of JSON: '502 Bad Gateway'",
    "empty": "HTTP 200 OK with an empty body",
}
POLL_FAILED = "order poll failed (1/3): "
CASES = [
    # ------------------------------------------------------------------------------------------- create
    *[Case("create", f, UNREADABLE[f], reached=r) for f in ("malformed", "html", "empty")
      for r in (True, False)],
    Case("create", "truncated", UNREADABLE["truncated"], reached=True),
    Case("create", "5xx", "Internal error; unable to process your request", reached=True),
    Case("create", "5xx", "Internal error; unable to process your request", reached=False),
    Case("create", "timeout", "the venue did not answer in time", reached=True),
    Case("create", "timeout", "the venue did not answer in time", reached=False),
    Case("create", "429", "rate limit exceeded (429)"),
    Case("create", "wrong_order", "the create reply is about another order"),
    Case("create", "no_id", "the create reply has no order id"),
    Case("create", "no_status", ""),  # id and client id are there: the order is simply ACCEPTED
    # ------------------------------------------------------------------------------ lookup of an UNKNOWN
    *[Case("lookup", f, UNREADABLE[f]) for f in UNREADABLE],
    Case("lookup", "5xx", "Internal error; unable to process your request"),
    Case("lookup", "timeout", "the venue did not answer in time"),
    Case("lookup", "429", "rate limit exceeded (429)"),
    Case("lookup", "wrong_order", "the lookup reply is about another order"),
    Case("lookup", "no_id", "the lookup reply has no order id"),
    Case("lookup", "no_status", "has no status"),
    Case("lookup", "not_found", "found at the venue as"),  # not found, then found: never "not placed"
    # ---------------------------------------------------------------------------- lookup by the poll
    *[Case("poll lookup", f, (POLL_FAILED + "unreadable reply from the exchange", UNREADABLE[f]))
      for f in UNREADABLE],
    Case("poll lookup", "5xx", POLL_FAILED + "the operation failed at the venue (OperationFailed"),
    Case("poll lookup", "timeout", POLL_FAILED + "the venue did not answer in time (RequestTimeout"),
    Case("poll lookup", "429", "rate limit exceeded (429)"),
    Case("poll lookup", "wrong_order", "reply is about another order"),
    Case("poll lookup", "no_id", "reply has no order id"),
    Case("poll lookup", "no_status", "has no status"),
    Case("poll lookup", "not_found", "Order does not exist"),
    # ------------------------------------------------------------------------------------------- cancel
    *[Case("cancel", f, UNREADABLE[f], reached=r) for f in ("malformed", "html", "empty")
      for r in (True, False)],
    Case("cancel", "truncated", UNREADABLE["truncated"], reached=True),
    Case("cancel", "5xx", "Internal error; unable to process your request", reached=True),
    Case("cancel", "5xx", "Internal error; unable to process your request", reached=False),
    Case("cancel", "timeout", "the venue did not answer in time", reached=True),
    Case("cancel", "429", "rate limit exceeded (429)"),
    Case("cancel", "wrong_order", "the cancel reply is about another order"),
    Case("cancel", "no_id", "the cancel reply has no order id"),
    Case("cancel", "no_status", "has no status"),
    Case("cancel", "not_found", "the venue has no such order"),
    # -------------------------------------------------------------------------------------- open orders
    *[Case("open orders", f, (POLL_FAILED + "unreadable reply from the exchange", UNREADABLE[f]))
      for f in UNREADABLE],
    Case("open orders", "5xx", POLL_FAILED + "the operation failed at the venue (OperationFailed"),
    Case("open orders", "timeout", POLL_FAILED + "the venue did not answer in time (RequestTimeout"),
    Case("open orders", "429", "rate limit exceeded (429)"),
    Case("open orders", "no_id", "the open-orders reply has no order id"),
    Case("open orders", "not_found", POLL_FAILED + "the venue has no such order (OrderNotFound"),
    # a well-formed reply that leaves our order out (another order, or rows without status): nothing to say,
    # the order's own lookup shows it open and it stays as it is
    Case("open orders", "wrong_order", ""),
    Case("open orders", "no_status", ""),
    Case("open orders", "html", "reconnecting", n=3),  # max_failures polls in a row: lost, reconnected
]


def acted(case: Case) -> bool:
    """Did the exchange act on the request (the fake's default for the fault when the case does not say)?"""
    if case.reached is not None:
        return case.reached
    return case.fault in ("truncated", "wrong_order", "no_id", "no_status", "timeout")


class Terminal:
    """One terminal and one fake exchange on a loop of their own, for the whole module (starting a venue
    costs seconds; the loop simply pauses between tests). A case that left the venue unusable fails itself;
    the next case starts on a fresh terminal (a new profile), so one failure does not hide the others."""

    def __init__(self, root: Path) -> None:
        self.root, self.starts = root, 0
        self.loop = asyncio.new_event_loop()
        self.fake = make_fake(auto_market=False)
        self.run(self.fake.start())
        self.s: Session = self.run(self._start(), 30)
        self.prices = iter(range(58_000, 59_000))  # a new price per order: never a duplicate-order denial

    async def _start(self) -> Session:
        self.starts += 1
        profile = self.root / f"profile{self.starts}"
        profile.mkdir()
        # ccxt's own throttle off: it would only queue this module's requests behind the feed's polls
        s = Session(profile, self.fake, stream="poll", unknown_grace_s=0.5,
                    ccxt={"timeout": int(TIMEOUT_S * 1000), "enableRateLimit": False})
        return await s.start()

    async def ready(self) -> Session:
        """The terminal, ready for a case: the venue serving orders, no order working."""
        self.fake.reset_faults()
        s = self.s
        try:
            await until(lambda: s.venue.connected and s.venue.gate.is_open
                        and not list(s.kernel.execution.working_orders()), 5, "the venue ready")
        except AssertionError:
            await s.close()
            self.s = s = await self._start()
        await s.tradable()
        return s

    def run(self, coro, timeout: float = 20.0):
        return self.loop.run_until_complete(asyncio.wait_for(coro, timeout))

    def close(self) -> None:
        self.run(self.s.close())
        self.run(self.fake.stop())
        self.loop.close()


@pytest.fixture(scope="module")
def terminal(tmp_path_factory):
    t = Terminal(tmp_path_factory.mktemp("exchange-faults"))
    yield t
    t.close()


def journal(profile: Path) -> list[tuple[str, str | None, str]]:
    conn = sqlite3.connect(profile / "kestrel.db")
    try:
        return conn.execute("SELECT client_order_id, venue_order_id, status FROM orders").fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_exchange_fault(terminal, case, caplog):
    caplog.set_level(logging.INFO, logger="kestrel.venues.ccxt")
    terminal.run(_case(terminal, case, caplog), 30)


async def _case(term: Terminal, case: Case, caplog) -> None:
    s, fake = await term.ready(), term.fake
    seen0 = len(s.seen)
    posts0 = fake.requests.count(("POST", "/api/v3/order"))
    route = ROUTES[case.op]

    def fault() -> None:
        fake.fault(route, case.fault, case.n, reached=case.reached, seconds=TIMEOUT_S + 0.4, retry_after=0.3)

    def submit() -> str:
        return s.kernel.submit("BTC/USDT@binance", Side.BUY, OrderType.LIMIT, 0.01, float(next(term.prices)))

    async def live_order() -> str:
        cid = submit()
        await until(lambda: s.order(cid).status is S.ACCEPTED, 5, "a live order")
        return cid

    placed = fake.order_by_client_id
    cid = ""
    if case.op == "create":
        fault()
        cid = submit()
        await until(lambda: s.order(cid).status in (S.ACCEPTED, S.REJECTED), 8, f"{case.id}: resolved")
        at_venue = placed(cid) is not None
        assert s.order(cid).status is (S.ACCEPTED if at_venue else S.REJECTED), (case.id, s.order(cid))
        if not at_venue and case.fault != "429":
            assert "not placed" in s.order(cid).reason

    elif case.op == "lookup":
        fake.fault("POST /api/v3/order", "5xx", reached=True)  # placed, unanswered: UNKNOWN, then looked up
        fault()
        cid = submit()
        await until(lambda: s.order(cid).status is S.ACCEPTED, 8, f"{case.id}: found by its client order id")

    elif case.op == "poll lookup":
        cid = await live_order()
        fault()
        fake.cancel_behind_our_back(cid)  # gone from the open orders: the poll looks it up
        await until(lambda: s.order(cid).status is S.CANCELED, 8, f"{case.id}: its end found")

    elif case.op == "cancel":
        cid = await live_order()
        deletes0 = fake.requests.count(("DELETE", "/api/v3/order"))
        fault()
        s.kernel.execution.cancel(cid)
        await until(lambda: s.order(cid).status in (S.CANCELED, S.ACCEPTED), 8, f"{case.id}: cancel outcome")
        deletes = fake.requests.count(("DELETE", "/api/v3/order")) - deletes0
        if s.order(cid).status is S.ACCEPTED:  # refused (429, not found): a person or the kill switch retries
            assert case.fault in ("429", "not_found") and deletes == 1, case.id
            assert placed(cid).status == "NEW", case.id
            assert [m for m in s.seen[seen0:] if isinstance(m, CancelRejected) and m.client_order_id == cid]
            await until(lambda: s.venue.gate.is_open, 5, "the rate gate open")
            s.kernel.execution.cancel(cid)
            await until(lambda: s.order(cid).status is S.CANCELED, 5, f"{case.id}: the second cancel")
        elif acted(case):
            assert deletes == 1, f"{case.id}: the cancel took effect, yet it was sent {deletes} times"
        else:
            assert deletes == 2, f"{case.id}: looked up, still open, sent once more ({deletes} sent)"
        assert placed(cid).status == "CANCELED"

    elif case.op == "open orders":
        cid = await live_order()
        fault()
        await until(lambda: fake.faults_left() == 0, 5, "the broken reply sent")
        if case.n >= 3:
            def lost() -> bool:
                return any(isinstance(v, VenueStatus) and not v.connected and "reconnecting" in v.message
                           for v in s.seen[seen0:])
            await until(lost, 5, "the venue lost")
        await until(lambda: s.venue.connected, 8, f"{case.id}: ready")
        await served_more(fake, "GET /api/v3/openOrders", 4)  # more polls: the live order is in each
        assert s.order(cid).status is S.ACCEPTED, f"{case.id}: a live order must stay live: {s.order(cid)}"
        fake.fill_order(cid)
        await until(lambda: s.order(cid).status is S.FILLED, 5, f"{case.id}: still tracked (its fill)")

    # nothing sent twice: each case places one order
    posts = fake.requests.count(("POST", "/api/v3/order")) - posts0
    assert posts == 1, f"{case.id}: {posts} creates for one order"

    # no order journaled without its venue id, nor with another order's
    s.kernel.store.commit()
    for order_id, vid, status in journal(s.profile):
        at_venue = placed(order_id)
        assert vid not in ("", "None", "null"), (case.id, order_id, vid)
        if vid is not None:
            assert at_venue is not None and vid == str(at_venue.order_id), (case.id, order_id, vid)
        elif status in ("ACCEPTED", "PARTIALLY_FILLED", "FILLED", "PENDING_CANCEL"):
            raise AssertionError(f"{case.id}: {order_id} is {status} without a venue order id")

    # a person can read what happened (the poll may have settled the order before the request's own answer)
    def said() -> str:
        lines = [s.order(cid).reason] if cid else []
        lines += [m.reason for m in s.seen[seen0:] if isinstance(m, (OrderStatusUnknown, CancelRejected))]
        lines += [m.message for m in s.seen[seen0:] if isinstance(m, (Alert, VenueError, VenueStatus))]
        return "\n".join(lines + caplog.messages)

    says = (case.says,) if isinstance(case.says, str) else case.says
    try:
        await until(lambda: all(p in said() for p in says), 3, "the message")
    except AssertionError:
        raise AssertionError(f"{case.id}: expected {says!r} in what the trader reads:\n{said()}") from None
    text = said()
    if case.fault in ("malformed", "truncated", "empty"):
        assert "5xx" not in text, f"{case.id}: an unreadable reply is not a 5xx:\n{text}"
    assert "Traceback" not in text

    # the terminal keeps running and the venue serves orders again
    assert not s._runner.done(), f"{case.id}: the kernel stopped"
    assert s.venue._supervisor is not None and not s.venue._supervisor.done(), f"{case.id}: the venue stopped"
    await until(lambda: s.venue.connected and s.venue.gate.is_open, 8, f"{case.id}: the venue ready again")
    await s.tradable()
    fresh = submit()
    await until(lambda: s.order(fresh).status is S.ACCEPTED, 5, f"{case.id}: a new order served")
    for order in list(s.kernel.execution.working_orders()):
        s.kernel.execution.cancel(order.client_order_id)
    await until(lambda: not list(s.kernel.execution.working_orders()), 5, "the book cleared")
