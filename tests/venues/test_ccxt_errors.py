"""Every ccxt error class maps to a policy of its own, with a message a trader can act on."""
from __future__ import annotations

import inspect

import ccxt
import pytest
from ccxt.base import errors as ccxt_errors

from app.engine.venues.backoff import Backoff, parse_retry_after
from app.engine.venues.ccxt_errors import POLICIES, classify, detail, is_definite_refusal, redact

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
