"""Every ccxt error class mapped to what Kestrel does about it and what the trader reads.

``classify(exc)`` walks the exception's class hierarchy to the nearest entry of ``POLICIES``, so a class a
future ccxt adds still lands on its parent's policy; ``tests/venues/test_ccxt_errors.py`` checks that every
class ccxt ships today has an entry of its own. Kinds:

  auth        the key is refused or lacks a permission: never retried; the venue stops until a person acts
  funds       not enough balance: the order is rejected, never retried
  order       the venue refused the order/cancel as invalid: rejected, never retried
  request     our request is not acceptable (bad symbol, unsupported, arguments): not retried
  rate_limit  429/418: back off for the venue's Retry-After (or our backoff), then retry reads
  network     timeouts, 5xx, maintenance, connection errors: reads are retried with backoff; a create whose
              answer did not arrive is UNKNOWN and reconciled by client order id, never re-sent
  nonce       our clock is off (timestamp outside recvWindow): re-synchronise, then retry reads
  sequence    an order-book sequence gap or checksum mismatch: drop the book and take a fresh snapshot
  response    the venue answered something unreadable (not JSON, empty, an HTML error page, cut off) or an
              order reply without its id/status or about another order (``UnreadableReply``): retried for
              reads, UNKNOWN for a create; a lookup answered so is "still unknown", never "found"
  closed      we closed the exchange object ourselves: stop quietly
  unknown     anything else: logged with the class name; a create is UNKNOWN

``redact`` strips query strings (signatures, timestamps, keys some venues put in URLs) and any literal
credential from a message before it reaches a log, an event or the screen.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterable

from app.engine.venues.base import venue_id


@dataclass(frozen=True, slots=True)
class ErrorPolicy:
    kind: str
    retry: bool  # may a *read* be retried automatically?
    title: str  # short, for the status bar / alert title
    advice: str  # what to do, for the alert / rejection text

    def message(self, venue: str, detail: str = "") -> str:
        text = f"{venue}: {self.title}"
        if detail:
            text += f" ({detail})"
        return f"{text}. {self.advice}".replace("{venue}", venue)


_KEYS = "Check the API key and secret (`kestrel keys set {venue}` or the Connect dialog)"
POLICIES: dict[str, ErrorPolicy] = {
    # ------------------------------------------------------------------------------------- credentials
    "AuthenticationError": ErrorPolicy("auth", False, "the API key was refused",
                                       f"{_KEYS}, then reconnect. Kestrel will not retry on its own."),
    "PermissionDenied": ErrorPolicy("auth", False, "the API key lacks a permission for this action",
                                    "Enable trading (and whitelist this IP) in the exchange's API settings, "
                                    "then reconnect."),
    "AccountNotEnabled": ErrorPolicy("auth", False, "this account feature is not enabled",
                                     "Enable it on the exchange's website, then reconnect."),
    "AccountSuspended": ErrorPolicy("auth", False, "the account is suspended",
                                    "Contact the exchange; Kestrel will not retry."),
    # ------------------------------------------------------------------------------------------ orders
    "InsufficientFunds": ErrorPolicy("funds", False, "insufficient balance for this order",
                                     "Reduce the size or add funds; the order was not placed."),
    "InvalidOrder": ErrorPolicy("order", False, "the venue rejected the order as invalid",
                                "Check size, price and the market's limits; it was not placed."),
    "OrderNotFound": ErrorPolicy("order", False, "the venue has no such order",
                                 "It may already be filled or canceled; its state is being re-read."),
    "OrderNotCached": ErrorPolicy("order", False, "the venue no longer reports this order",
                                  "It is too old for the venue's cache; check its history on the exchange."),
    "OrderImmediatelyFillable": ErrorPolicy("order", False, "a post-only order would have filled at once",
                                            "Move the price away from the touch; it was not placed."),
    "OrderNotFillable": ErrorPolicy("order", False, "the order cannot be filled as specified",
                                    "Change its type or price; it was not placed."),
    "DuplicateOrderId": ErrorPolicy("order", False,
                                    "the venue already has an order with this client order id",
                                    "Kestrel never re-sends an order: its state is being reconciled."),
    "ContractUnavailable": ErrorPolicy("order", False, "the contract is not available for trading",
                                       "Pick another instrument; the order was not placed."),
    "CancelPending": ErrorPolicy("order", True, "a cancel is already pending at the venue",
                                 "Wait for the venue to confirm it."),
    # -------------------------------------------------------------------------------- request problems
    "ExchangeError": ErrorPolicy("request", False, "the venue refused the request",
                                 "See the detail; nothing was retried."),
    "ArgumentsRequired": ErrorPolicy("request", False, "the venue needs an argument Kestrel did not send",
                                     "Report this with the log; nothing was retried."),
    "BadRequest": ErrorPolicy("request", False, "the venue rejected the request as malformed",
                              "Check the venue config (symbols, options); nothing was retried."),
    "BadSymbol": ErrorPolicy("request", False, "the venue does not list this symbol",
                             "Fix the symbol in the venue config."),
    "OperationRejected": ErrorPolicy("request", False, "the venue rejected the operation",
                                     "See the detail; nothing was retried."),
    "NoChange": ErrorPolicy("request", False, "nothing to change", "The venue is already in that state."),
    "MarginModeAlreadySet": ErrorPolicy("request", False, "the margin mode is already set",
                                        "Nothing to do."),
    "MarketClosed": ErrorPolicy("request", False, "the market is closed",
                                "Wait for the session to open; the order was not placed."),
    "ManualInteractionNeeded": ErrorPolicy("request", False, "the venue needs a manual step",
                                           "Log in to the exchange's website to complete it."),
    "RestrictedLocation": ErrorPolicy("request", False, "the venue refuses service from this location",
                                      "Use the venue's regional site or another venue."),
    "InvalidAddress": ErrorPolicy("request", False, "invalid address", "Check the address."),
    "AddressPending": ErrorPolicy("request", False, "the address is still being generated", "Try later."),
    "NotSupported": ErrorPolicy("request", False, "the venue does not support this through ccxt",
                                "Use another order type or venue."),
    "InvalidProxySettings": ErrorPolicy("request", False, "the proxy settings are inconsistent",
                                        "Fix the proxy options in the venue config."),
    "UnsubscribeError": ErrorPolicy("request", False, "a stream unsubscribe failed",
                                    "Harmless; the stream is restarted if needed."),
    # ------------------------------------------------------------------------------ transient: retried
    "OperationFailed": ErrorPolicy("unknown", True, "the operation failed at the venue",
                                   "Reads are retried; an order in doubt is reconciled by its id."),
    "NetworkError": ErrorPolicy("network", True, "network error", "Retrying with backoff."),
    "ExchangeNotAvailable": ErrorPolicy("network", True, "the venue is unreachable or failing",
                                        "Retrying with backoff."),
    "OnMaintenance": ErrorPolicy("network", True, "the venue is under maintenance",
                                 "Retrying with backoff until it is back."),
    "RequestTimeout": ErrorPolicy("network", True, "the venue did not answer in time",
                                  "Retrying; an order in doubt is UNKNOWN until found by its client id."),
    "DDoSProtection": ErrorPolicy("rate_limit", True, "the venue is blocking requests (418/DDoS protection)",
                                  "Kestrel pauses requests for the venue's Retry-After; slow down polling."),
    "RateLimitExceeded": ErrorPolicy("rate_limit", True, "rate limit exceeded (429)",
                                     "Kestrel pauses requests for the venue's Retry-After."),
    "InvalidNonce": ErrorPolicy("nonce", True, "the request's timestamp was refused (clock skew)",
                                "Kestrel re-synchronised its clock with the venue; send the order again."),
    "ChecksumError": ErrorPolicy("sequence", True, "order-book sequence gap",
                                 "The book is rebuilt from a fresh snapshot."),
    "BadResponse": ErrorPolicy("response", True, "the venue sent an unreadable answer",
                               "Retried; an order in doubt is reconciled by its id."),
    "NullResponse": ErrorPolicy("response", True, "the venue sent an empty answer",
                                "Retried; an order in doubt is reconciled by its id."),
    "ExchangeClosedByUser": ErrorPolicy("closed", False, "connection closed by Kestrel", "Nothing to do."),
    "BaseError": ErrorPolicy("unknown", True, "unexpected venue error",
                             "Reads are retried; an order in doubt is reconciled by its id."),
}
_FALLBACK = ErrorPolicy("unknown", True, "unexpected error",
                        "Reads are retried; an order in doubt is reconciled by its id. See the log.")
UNREADABLE = ErrorPolicy("response", True, "unreadable reply from the exchange",
                         "Retried; an order in doubt stays UNKNOWN until found by its client order id.")


class UnreadableReply(Exception):
    """The exchange answered, but not with something Kestrel can act on: a body that is not the JSON its API
    speaks (empty, an HTML error page, malformed or cut-off JSON), or an order reply without its id or status,
    or about another order. ccxt passes many of these through as an order of ``None`` fields; taking one
    for an answer made phantom orders. ``per_order``: the body was fine, only this order's reply was wrong
    (so it says nothing about the venue as a whole)."""

    def __init__(self, message: str, per_order: bool = False) -> None:
        super().__init__(message)
        self.per_order = per_order


def unreadable_body(status: int, reason: str, body: str | None) -> str | None:
    """Why an HTTP reply cannot be read as JSON, in a person's words; None when it can (or is plain text,
    which some APIs send on purpose, e.g. a bare timestamp: ccxt's own parsing judges that)."""
    head = f"HTTP {status} {reason or ''}".strip()
    text = (body or "").strip()
    if not text:
        return None if status == 204 else f"{head} with an empty body"
    if text[0] == "<":
        m = re.search(r"<title>(.*?)</title>", text, re.I | re.S)
        title = f": {' '.join(m.group(1).split())[:80]!r}" if m else ""
        return f"{head} with an HTML page instead of JSON{title}"
    if text[0] in "{[":
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            cut_off = exc.pos >= len(text) - 1 or exc.msg.startswith("Unterminated")
            return (f"{head} with a body that is not valid JSON ({'cut off' if cut_off else 'malformed'}, "
                    f"{len(text)} bytes: {text[:60]!r}{'…' if len(text) > 60 else ''})")
    return None


def check_order(reply: Any, what: str, cid: str | None = None, vid: str | None = None,
                need_status: bool = False) -> dict:
    """``reply`` if it is an order reply Kestrel can act on: a dict with the venue's order id, about our order
    (``cid``/``vid`` when given and the reply names them), with a status when ``need_status``. Otherwise
    ``UnreadableReply`` naming what was wrong (``what``: "create", "lookup", "cancel"...)."""
    if not isinstance(reply, dict):
        raise UnreadableReply(f"the {what} reply is not an order ({type(reply).__name__})")
    rid = venue_id(reply.get("id"))
    other = reply.get("clientOrderId")
    if rid is None:
        fields = ", ".join(f"{k}={reply.get(k)!r}" for k in ("clientOrderId", "status") if reply.get(k))
        raise UnreadableReply(f"the {what} reply has no order id ({fields or 'no readable field'})",
                              per_order=bool(fields))
    if (cid and other and other != cid) or (vid and rid != vid):
        raise UnreadableReply(f"the {what} reply is about another order (id {rid}, client id {other}) than "
                              f"ours ({'id ' + vid + ', ' if vid else ''}client id {cid})", per_order=True)
    if need_status and not reply.get("status"):
        raise UnreadableReply(f"the {what} reply of order {rid} has no status", per_order=True)
    return reply


def classify(exc: BaseException) -> ErrorPolicy:
    """The policy of the nearest class in ``exc``'s hierarchy that has one."""
    if isinstance(exc, UnreadableReply):
        return UNREADABLE
    pinned = getattr(exc, "kestrel_policy", None)  # set by the adapter that saw the HTTP status (429 vs 418)
    if isinstance(pinned, ErrorPolicy):
        return pinned
    for cls in type(exc).__mro__:
        policy = POLICIES.get(cls.__name__)
        if policy is not None and cls.__module__.startswith("ccxt"):
            return policy
    if isinstance(exc, TimeoutError):
        return POLICIES["RequestTimeout"]
    if isinstance(exc, (ConnectionError, OSError)):
        return POLICIES["NetworkError"]
    return _FALLBACK


def is_definite_refusal(exc: BaseException) -> bool:
    """Did the venue answer a *create* with a refusal (so the order is known not to exist)?

    An explicit exchange error (funds, invalid order, bad request, auth) or a rate-limit/ban response or a
    timestamp refusal: yes. A duplicate client order id means the order *does* exist. Anything else (timeouts,
    5xx, unreadable answers, unknown errors): the order may exist, so its outcome is UNKNOWN.
    """
    policy = classify(exc)
    if type(exc).__name__ == "DuplicateOrderId":
        return False
    return policy.kind in ("auth", "funds", "order", "request", "rate_limit", "nonce")


_QUERY = re.compile(r"(https?|wss?)://([^\s?\"']+)\?[^\s\"']*")
_PAIRS = re.compile(r"(?i)\b(signature|sign|apikey|api_key|api-key|key|secret|passphrase|password|token|"
                    r"listenkey|x-mbx-apikey)\b(\"?\s*[:=]\s*\"?)([^\s&\"',}]+)")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without query strings, ``key=value`` credentials, or any literal of ``secrets``."""
    out = _QUERY.sub(lambda m: f"{m.group(1)}://{m.group(2)}?…", str(text))
    out = _PAIRS.sub(lambda m: f"{m.group(1)}{m.group(2)}***", out)
    for s in secrets:
        if s and len(s) >= 4:
            out = out.replace(s, "***")
    return out


def detail(exc: BaseException, secrets: Iterable[str] = (), limit: int = 240) -> str:
    """A short, redacted one-line detail of ``exc`` for messages (the venue's own words, when present)."""
    text = redact(" ".join(str(exc).split()), secrets)
    m = None if isinstance(exc, UnreadableReply) else re.search(r"\{.*\}", text)
    if m and len(m.group(0)) < limit:  # the venue's JSON error body says it best
        text = m.group(0)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
