"""Every ccxt error class maps to a policy of its own, with a message a trader can act on."""
from __future__ import annotations

import inspect

import ccxt
import pytest
from ccxt.base import errors as ccxt_errors

from app.engine.venues.backoff import Backoff, parse_retry_after
from app.engine.venues.base import venue_id
from app.engine.venues.ccxt.errors import (
    POLICIES,
    UnreadableReply,
    check_order,
    classify,
    detail,
    is_definite_refusal,
    redact,
    unreadable_body,
)

ALL = [c for _, c in inspect.getmembers(ccxt_errors, inspect.isclass) if issubclass(c, ccxt.BaseError)]


def test_every_ccxt_error_class_has_its_own_policy():
    missing = [c.__name__ for c in ALL if c.__name__ not in POLICIES]
    assert not missing, f"ccxt error classes without a policy: {missing}"
    assert len(ALL) >= 39


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_policy_message_is_clear(cls):
    policy = classify(cls("binance {\"code\":-1,\"msg\":\"x\"}"))
    assert policy is POLICIES[cls.__name__]
    msg = policy.message("binance", "detail")
    assert msg.startswith("binance: ") and msg.endswith(".") and len(msg) < 300
    assert "{venue}" not in msg


@pytest.mark.parametrize("name, kind, retry, refusal", [
    ("NetworkError", "network", True, False),
    ("RequestTimeout", "network", True, False),
    ("ExchangeNotAvailable", "network", True, False),
    ("OnMaintenance", "network", True, False),
    ("AuthenticationError", "auth", False, True),
    ("PermissionDenied", "auth", False, True),
    ("InsufficientFunds", "funds", False, True),
    ("InvalidOrder", "order", False, True),
    ("OrderNotFound", "order", False, True),
    ("DuplicateOrderId", "order", False, False),  # the order exists: reconcile, never re-send
    ("RateLimitExceeded", "rate_limit", True, True),
    ("DDoSProtection", "rate_limit", True, True),
    ("InvalidNonce", "nonce", True, True),
    ("ChecksumError", "sequence", True, False),
    ("BadResponse", "response", True, False),
    ("OperationFailed", "unknown", True, False),
])
def test_retry_and_refusal_rules(name, kind, retry, refusal):
    exc = getattr(ccxt, name)("x")
    assert (classify(exc).kind, classify(exc).retry, is_definite_refusal(exc)) == (kind, retry, refusal)


def test_a_future_subclass_lands_on_its_parent():
    class BrandNewTimeout(ccxt.RequestTimeout):
        pass
    assert classify(BrandNewTimeout("x")) is POLICIES["RequestTimeout"]
    assert classify(ValueError("x")).kind == "unknown"
    assert classify(TimeoutError()).kind == "network"


def test_redaction_removes_signatures_keys_and_literal_secrets():
    text = ("binance GET https://api.binance.com/api/v3/order?symbol=BTCUSDT&timestamp=1&signature=abcdef0123 "
            "apiKey=KEY123456 \"secret\": \"s3cr3tvalue\" token=tok999999 my-literal-secret-here")
    out = redact(text, ["my-literal-secret-here"])
    for leaked in ("abcdef0123", "KEY123456", "s3cr3tvalue", "tok999999", "my-literal-secret-here"):
        assert leaked not in out
    assert "api.binance.com/api/v3/order?…" in out
    d = detail(ccxt.InvalidOrder('binance {"code":-1013,"msg":"Filter failure: LOT_SIZE"}'))
    assert d == 'InvalidOrder: {"code":-1013,"msg":"Filter failure: LOT_SIZE"}'


def test_backoff_has_jitter_and_a_cap():
    import random

    b = Backoff(0.5, 8.0, rng=random.Random(3))
    delays = [b.next_delay() for _ in range(12)]
    assert all(0.05 <= d <= 8.0 for d in delays)
    assert len({round(d, 6) for d in delays}) == len(delays)  # jittered, not a fixed ladder
    assert max(delays[6:]) > 2.0  # the ceiling grew
    b.reset()
    assert b.next_delay() <= 0.5


def test_retry_after_header_forms():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


@pytest.mark.parametrize("status, reason, body, says", [
    (200, "OK", "{'orderId': 12, status: NEW,,}", "HTTP 200 OK with a body that is not valid JSON (malformed"),
    (200, "OK", '{"symbol": "BTCUSDT", "orderId": 4', "not valid JSON (cut off"),
    (200, "OK", "", "HTTP 200 OK with an empty body"),
    (502, "Bad Gateway", "<html><head><title>502 Bad Gateway</title></head></html>",
     "HTTP 502 Bad Gateway with an HTML page instead of JSON: '502 Bad Gateway'"),
])
def test_an_unreadable_reply_says_what_came_back_not_5xx(status, reason, body, says):
    text = unreadable_body(status, reason, body)
    assert text is not None and says in text and "5xx" not in text
    policy = classify(UnreadableReply(text))
    assert (policy.kind, is_definite_refusal(UnreadableReply(text))) == ("response", False)
    assert "unreadable reply from the exchange" in policy.message("binance", detail(UnreadableReply(text)))
    assert "5xx" not in POLICIES["ExchangeNotAvailable"].title  # ccxt raises it for refused connections too


@pytest.mark.parametrize("body", ['{"orderId": 1}', "[]", "1700000000000", "pong"])
def test_readable_or_plain_text_bodies_are_left_to_ccxt(body):
    assert unreadable_body(200, "OK", body) is None


def test_an_order_reply_must_name_our_order():
    ok = {"id": "17", "clientOrderId": "c1", "status": "open"}
    assert check_order(ok, "lookup", "c1", "17", True) is ok
    assert check_order({"id": 17, "clientOrderId": None}, "create", "c1")["id"] == 17  # not echoed: fine
    for reply, words in [({"id": None, "clientOrderId": None, "status": None}, "has no order id"),
                         ({"id": "None", "clientOrderId": "c1", "status": "open"}, "has no order id"),
                         ("{garbage", "is not an order"),
                         ({"id": "18", "clientOrderId": "other", "status": "open"}, "about another order"),
                         ({"id": "18", "clientOrderId": "c1", "status": "open"}, "about another order"),
                         ({"id": "17", "clientOrderId": "c1", "status": None}, "has no status")]:
        with pytest.raises(UnreadableReply, match=words):
            check_order(reply, "lookup", "c1", "17", True)


def test_no_venue_id_is_made_of_a_missing_value():
    assert [venue_id(v) for v in (None, "", " ", "None", "null", "undefined")] == [None] * 6
    assert venue_id(12345) == "12345" and venue_id(" 7 ") == "7"
