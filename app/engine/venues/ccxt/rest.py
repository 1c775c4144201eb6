"""The ccxt venue's REST side: the ccxt exchange object, one REST call through the rate gate, rate limits and
the clock offset (a part of ``CcxtVenue``).

RATE LIMITS   ccxt's own throttle (``enableRateLimit``) paces requests; a 429/418 closes the ``RateGate`` for
              the venue's Retry-After (or our backoff): reads wait, a create is refused rather than queued.
REPLIES       a body that is not JSON is ``UnreadableReply``, whatever ccxt made of it (``rest``).
SECRETS       credentials go to the ccxt object only; ``verbose`` (it prints request headers) stays off.
"""
from __future__ import annotations

import contextvars
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterator

from app.engine.venues.backoff import parse_retry_after
from app.engine.venues.ccxt.errors import POLICIES, UnreadableReply, classify, detail, unreadable_body
from app.engine.venues.credentials import Credentials
from app.engine.venues.venue_config import CcxtVenueConfig

log = logging.getLogger("kestrel.venues.ccxt")


@dataclass
class _Reply:
    """The HTTP reply behind one ``rest`` call (the last one, if the call made several)."""

    status: int = 0
    headers: dict = field(default_factory=dict)
    unreadable: str | None = None  # why its body is not JSON (see errors.unreadable_body)


_REPLY: contextvars.ContextVar[_Reply | None] = contextvars.ContextVar("kestrel_ccxt_reply", default=None)


@contextmanager
def recorded_reply() -> Iterator[_Reply]:
    """The HTTP reply (status, headers, unreadable body) of the REST calls made inside, as an exchange from
    ``make_exchange`` reports it; per task, so concurrent calls on one exchange do not mix."""
    reply = _Reply()
    token = _REPLY.set(reply)
    try:
        yield reply
    finally:
        _REPLY.reset(token)


@dataclass(frozen=True, slots=True)
class RateLimitWait:
    """How long a 429/418 asks us to wait, and why."""

    seconds: float
    banned: bool  # 418 (or DDoSProtection without a 429): an IP ban, not a plain limit
    source: str  # "Retry-After" or "backoff" (the venue said nothing; our default)


def rate_limit_wait(exc: BaseException, status: int, headers: dict) -> RateLimitWait:
    """The wait a rate-limit refusal asks for: the reply's ``Retry-After``, else 60 s for a ban, 5 s for a 429."""
    retry = None
    for k, v in (headers or {}).items():
        if k.lower() == "retry-after":
            retry = parse_retry_after(v)
    ban = status == 418 or (status != 429 and type(exc).__name__ == "DDoSProtection")
    wait = retry if retry is not None else (60.0 if ban else 5.0)
    return RateLimitWait(wait, ban, "Retry-After" if retry is not None else "backoff")


def make_exchange(cfg: CcxtVenueConfig, credentials: Credentials | None) -> Any:
    """The ccxt exchange object for ``cfg`` (``ccxt.pro`` unless polling): rate-limited, never verbose, its
    REST replies recorded for ``CcxtRest.rest``. Slow (imports ccxt, loads the CA bundle): call it off the
    loop."""
    import ccxt.async_support as ccxt_async

    klass = None
    if cfg.stream != "poll":
        try:
            import ccxt.pro as ccxt_pro

            klass = getattr(ccxt_pro, cfg.exchange, None)
        except ImportError:
            klass = None
    if klass is None:
        klass = getattr(ccxt_async, cfg.exchange, None)
    if klass is None:
        raise ValueError(f"ccxt has no exchange {cfg.exchange!r}")
    options = dict(cfg.ccxt)
    options.setdefault("enableRateLimit", True)
    options["verbose"] = False  # verbose prints request headers, i.e. the API key
    if credentials is not None:
        options["apiKey"], options["secret"] = credentials.api_key, credentials.secret
        if credentials.password:
            options["password"] = credentials.password
    ex = klass(options)
    original = ex.on_rest_response

    def on_rest_response(code, reason, url, method, headers, body, *rest):  # what ``rest`` needs to know
        reply = _REPLY.get()
        if reply is not None:
            reply.status, reply.headers = int(code or 0), dict(headers or {})
            reply.unreadable = reply.unreadable or unreadable_body(reply.status, reason, body)
        return original(code, reason, url, method, headers, body, *rest)

    ex.on_rest_response = on_rest_response
    if cfg.sandbox:
        ex.set_sandbox_mode(True)
    if ex.verify and ex.ssl_context is None:
        import ssl

        ex.ssl_context = ssl.create_default_context(cafile=ex.cafile)
    return ex


class CcxtRest:
    """REST calls through the rate gate, rate limits, and the clock offset."""

    async def rest(self, fn: Callable[..., Awaitable], *args: Any) -> Any:
        """One REST call through the rate gate; a 429/418 closes the gate for the venue's Retry-After.

        A reply whose body is not JSON (empty, an HTML error page, malformed or cut off) raises
        ``UnreadableReply`` saying so, whatever ccxt made of it: ccxt returns such a body to a create or a
        lookup as an order of ``None`` fields, and labels an HTML 502 like a refused connection."""
        await self.gate.wait()
        with recorded_reply() as reply:
            try:
                result = await fn(*args)
            except Exception as exc:
                policy = classify(exc)
                if policy.kind == "rate_limit":
                    self._rate_limited(exc, reply)
                elif policy.kind == "nonce":
                    self._spawn(self._sync_time(force=True))
                elif reply.unreadable and policy.kind in ("network", "response", "unknown", "request"):
                    raise UnreadableReply(reply.unreadable) from exc
                raise
        if reply.unreadable:
            raise UnreadableReply(reply.unreadable)
        return result

    def _rate_limited(self, exc: BaseException, reply: _Reply) -> None:
        asked = rate_limit_wait(exc, reply.status, reply.headers)
        wait, ban = asked.seconds, asked.banned
        self.stats["rate_limited"] += 1
        self.gate.close_for(wait, "banned (418)" if ban else "rate limited (429)")
        policy = POLICIES["DDoSProtection" if ban else "RateLimitExceeded"]
        try:
            exc.kestrel_policy = policy  # type: ignore[attr-defined]  # ccxt says DDoSProtection to a 429
        except AttributeError:
            pass
        self.emit_error("rate_limit", "rate limit", policy.message(self.name, f"{asked.source} {wait:g} s"), wait,
                        alert="warning" if ban or wait >= 10 else None)

    async def _sync_time(self, force: bool = False) -> None:
        ex = self.exchange
        if ex is None or not (getattr(ex, "has", {}) or {}).get("fetchTime"):
            return
        if not force and time.monotonic() - self._last_time_sync < self.config.time_sync_s:
            return
        self._last_time_sync = time.monotonic()
        try:
            await self.gate.wait()
            self.time_offset_ms = int(await ex.load_time_difference())
            self.stats["resyncs"] += 1
        except Exception as exc:  # noqa: BLE001 - skew stays as it was; requests will say if it matters
            log.warning("%s: clock sync failed: %s", self.name, detail(exc, self.secrets()))
            return
        if abs(self.time_offset_ms) > 1000:
            log.warning("%s: local clock differs from the venue's by %d ms; requests are stamped with the "
                        "venue's time", self.name, self.time_offset_ms)
