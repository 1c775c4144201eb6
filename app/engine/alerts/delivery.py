"""Alert delivery to external channels through apprise: off the loop, throttled, retried, never lost silently.

``Deliverer.deliver(...)`` appends the alert to each named channel's queue and returns (microseconds, on the
loop). Each channel has its own worker thread, so a channel that hangs holds up only itself. A worker

- sends at most one message per ``min_interval_s``; alerts arriving meanwhile are merged into the next message
  ("Kestrel: 3 alerts", one line each) and reported as ``AlertThrottled``;
- bounds each attempt by ``attempt_timeout_s``: apprise's call deadline plus the plugin's own socket timeouts
  (``cto``/``rto``), so a receiver that never answers ends the attempt and frees the thread;
- retries a failed message with exponential backoff and jitter (``venues.backoff.Backoff``), reporting
  ``AlertRetrying``, and after ``max_attempts`` reports ``AlertUndelivered`` with apprise's reason.

Results are frozen messages handed to ``on_result`` through ``post`` (``loop.call_soon_threadsafe`` in the
terminal), so the engine publishes them on its bus from the loop thread. A channel's queue is bounded
(``max_queued``): an alert that does not fit is reported undelivered at once, never dropped unsaid. ``close()``
gives what is queued one last try within a short wait and reports the rest undelivered. Every reason and log
line goes through ``redaction.redact``: a channel URL is a credential.
"""
from __future__ import annotations

import collections
import logging
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Union

from app.engine.alerts.channels import ChannelStore, instantiate, mask_url, validate_url
from app.engine.alerts.redaction import redact, remember
from app.engine.venues.backoff import Backoff
from app.engine.venues.credentials import CredentialError

log = logging.getLogger("kestrel.alerts.delivery")

CLOSED = "Kestrel closed before it could deliver"
TEST_TITLE = "Kestrel test notification"
TEST_BODY = "If you can read this, Kestrel can reach you on this channel."


# ---------------------------------------------------------------------------------------------- RESULTS
@dataclass(frozen=True, slots=True)
class AlertDelivered:
    """The channel accepted the message carrying ``alert_ids`` (several when merged)."""

    channel: str
    alert_ids: tuple[str, ...]
    attempt: int
    latency_ms: float  # the oldest alert's deliver() -> the channel accepted
    queued_ms: float  # the oldest alert's deliver() -> the first attempt began (the hand-off, incl. throttling)
    send_ms: float  # the successful attempt alone


@dataclass(frozen=True, slots=True)
class AlertRetrying:
    channel: str
    alert_ids: tuple[str, ...]
    attempt: int  # the attempt that failed
    next_in_s: float
    reason: str


@dataclass(frozen=True, slots=True)
class AlertUndelivered:
    channel: str
    alert_ids: tuple[str, ...]
    attempts: int  # 0: never tried (queue full, unknown channel, closing)
    reason: str


@dataclass(frozen=True, slots=True)
class AlertThrottled:
    """``merged`` alerts arrived within one ``interval_s`` and go out as one message."""

    channel: str
    alert_ids: tuple[str, ...]
    merged: int
    interval_s: float


DeliveryResult = Union[AlertDelivered, AlertRetrying, AlertUndelivered, AlertThrottled]


@dataclass(frozen=True)
class DeliveryPolicy:
    min_interval_s: float = 2.0  # at most one message per channel per interval; the rest are merged
    attempt_timeout_s: float = 10.0
    max_attempts: int = 5
    backoff_base_s: float = 1.0  # waits drawn from [base/2, base], [base/2, 2 base], [base/2, 4 base] ...
    backoff_cap_s: float = 60.0
    max_queued: int = 1000  # per channel; beyond it an alert is reported undelivered at once
    max_lines: int = 20  # alerts listed by name in a merged message


# ---------------------------------------------------------------------------------------------- SENDING
class Sender:
    """One channel's apprise plugin, sending one message at a time with a hard per-attempt deadline."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._apprise: Any = None
        self._plugin: Any = None
        self._socket_timeouts = (0.0, 0.0)

    def send(self, title: str, body: str, timeout_s: float) -> tuple[bool, str, float, bool]:
        """(accepted, reason, ms, worth retrying). Never raises; the reason is redacted."""
        t0 = time.perf_counter()
        if self._plugin is None:
            plugin, reason = instantiate(self.url)
            if plugin is None:
                return False, reason, 0.0, False
            import apprise

            self._plugin = plugin
            self._socket_timeouts = (plugin.socket_connect_timeout, plugin.socket_read_timeout)
            self._apprise = apprise.Apprise(asset=plugin.asset)
            self._apprise.add(plugin)
        # apprise stops waiting at the deadline (+0.1 s); the sockets end just after, so an abandoned attempt's
        # thread is freed too (a plugin's own shorter timeouts, e.g. ``?rto=3``, still apply)
        cto, rto = self._socket_timeouts
        self._plugin.socket_connect_timeout = min(cto, timeout_s + 0.5)
        self._plugin.socket_read_timeout = min(rto, timeout_s + 0.5)
        try:
            result = self._apprise.notify(body=body, title=title, timeout=timeout_s)
        except Exception as exc:  # noqa: BLE001 - apprise turns most faults into results; not all
            return False, redact(f"{type(exc).__name__}: {exc}"), _ms(t0), True
        ms = _ms(t0)
        if result:
            return True, "", ms, False
        if result.status.name == "TIMEOUT":
            return False, f"no answer within {timeout_s:.3g} s", ms, True
        said = [e.message for e in result.logs() if e.level in ("WARNING", "ERROR", "CRITICAL")]
        reason = " ".join(dict.fromkeys(s.strip() for s in said if s.strip()))
        return False, redact(reason or "the service refused the message (apprise gave no detail)"), ms, True


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0


class _Queued:
    __slots__ = ("alert_id", "title", "body", "ts", "t0")

    def __init__(self, alert_id: str, title: str, body: str, ts: float, t0: float) -> None:
        self.alert_id, self.title, self.body, self.ts, self.t0 = alert_id, title, body, ts, t0


class _Batch:
    __slots__ = ("items", "settled")

    def __init__(self, items: list[_Queued]) -> None:
        self.items = items
        self.settled = False

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(i.alert_id for i in self.items)


def compose(items: list[_Queued], max_lines: int = 20) -> tuple[str, str]:
    """One alert as it was fired; several as "Kestrel: N alerts" with one line each. The body is never empty
    (apprise refuses an empty body): an alert without one repeats its title."""
    if len(items) == 1:
        title = items[0].title.strip() or "Kestrel alert"
        return title, items[0].body.strip() or title
    lines = []
    for item in items[:max_lines]:
        first = item.body.strip().splitlines()[0] if item.body.strip() else ""
        line = f"- {item.title}: {first}" if first and first != item.title else f"- {item.title}"
        lines.append(line if len(line) <= 160 else line[:159] + "…")
    if len(items) > max_lines:
        lines.append(f"… and {len(items) - max_lines} more")
    return f"Kestrel: {len(items)} alerts", "\n".join(lines)


# ---------------------------------------------------------------------------------------------- CHANNEL WORKER
class _ChannelWorker:
    def __init__(self, name: str, url: str, policy: DeliveryPolicy, report: Callable[[DeliveryResult], None]):
        self.name = name
        self.policy = policy
        self._report = report
        self._sender = Sender(url)
        self._cond = threading.Condition()
        self._pending: collections.deque[_Queued] = collections.deque()
        self._inflight: _Batch | None = None
        self._closing = False
        self._close_deadline = math.inf
        self._stop_reason = CLOSED
        self._last_sent = -math.inf
        self.thread = threading.Thread(target=self._run, name=f"alerts:{name}", daemon=True)
        self.thread.start()

    # --- called from the loop thread
    def put(self, item: _Queued) -> str:
        """"" if queued, else why not."""
        with self._cond:
            if self._closing:
                return self._stop_reason
            if len(self._pending) >= self.policy.max_queued:
                return (f"{len(self._pending)} alerts are already waiting for channel '{self.name}' (it has been "
                        f"failing); this one was not queued")
            self._pending.append(item)
            self._cond.notify()
        return ""

    def retarget(self, url: str) -> None:
        with self._cond:
            self._sender = Sender(url)

    def queued(self) -> int:
        with self._cond:
            return len(self._pending) + (len(self._inflight.items) if self._inflight else 0)

    def close(self, deadline: float, reason: str) -> None:
        """No new alerts; what is queued gets one last try until ``deadline`` (monotonic), then ``reason``."""
        with self._cond:
            self._closing = True
            self._close_deadline = min(self._close_deadline, deadline)
            self._stop_reason = reason
            self._cond.notify_all()

    def abandon(self) -> None:
        """After ``close``'s wait: whatever this worker still holds is reported undelivered now."""
        out = []
        with self._cond:
            batch = self._inflight
            if batch is not None and not batch.settled:
                batch.settled = True
                out.append(AlertUndelivered(self.name, batch.ids, 0, f"{self._stop_reason} (the channel had not "
                                                                     f"answered yet; it may still arrive)"))
            if self._pending:
                out.append(AlertUndelivered(self.name, tuple(i.alert_id for i in self._pending), 0,
                                            self._stop_reason))
                self._pending.clear()
        for result in out:
            self._report(result)

    # --- the worker thread
    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            try:
                self._send(batch)
            except Exception as exc:  # noqa: BLE001 - a bug here must not lose the batch or kill the channel
                log.error("alert channel %r: %s", self.name, redact(f"{type(exc).__name__}: {exc}"))
                self._settle(batch, AlertUndelivered(self.name, batch.ids, 0, redact(f"internal error: {exc}")))

    def _take(self) -> _Batch | None:
        with self._cond:
            while not self._pending and not self._closing:
                self._cond.wait()
            if not self._pending:
                return None
            while not self._closing:
                wait = self._last_sent + self.policy.min_interval_s - time.monotonic()
                if wait <= 0:
                    break
                self._cond.wait(wait)
            batch = _Batch(list(self._pending))
            self._pending.clear()
            self._inflight = batch
            return batch

    def _send(self, batch: _Batch) -> None:
        p = self.policy
        title, body = compose(batch.items, p.max_lines)
        backoff = Backoff(base_s=p.backoff_base_s, cap_s=p.backoff_cap_s, floor_s=p.backoff_base_s / 2)
        oldest = batch.items[0].t0
        queued_ms, reason = None, ""
        for attempt in range(1, p.max_attempts + 1):
            timeout = p.attempt_timeout_s
            if self._closing:
                left = self._close_deadline - time.monotonic()
                if left < 0.05:
                    return self._settle(batch, AlertUndelivered(self.name, batch.ids, attempt - 1,
                                                                _joined(self._stop_reason, reason)))
                timeout = min(timeout, left)
            started = time.monotonic()
            if queued_ms is None:
                queued_ms = (time.perf_counter() - oldest) * 1000.0
                if len(batch.items) > 1:
                    self._report(AlertThrottled(self.name, batch.ids, len(batch.items), p.min_interval_s))
            with self._cond:
                sender = self._sender
            ok, reason, send_ms, retryable = sender.send(title, body, timeout)
            self._last_sent = started
            if ok:
                latency = (time.perf_counter() - oldest) * 1000.0
                return self._settle(batch, AlertDelivered(self.name, batch.ids, attempt, latency, queued_ms, send_ms))
            log.warning("alert channel %r, attempt %d of %d: %s", self.name, attempt, p.max_attempts, reason)
            if not retryable or attempt == p.max_attempts or self._closing:
                final = _joined(self._stop_reason, reason) if self._closing else reason
                return self._settle(batch, AlertUndelivered(self.name, batch.ids, attempt, final))
            delay = backoff.next_delay()
            self._report(AlertRetrying(self.name, batch.ids, attempt, round(delay, 3), reason))
            with self._cond:
                self._cond.wait_for(lambda: self._closing, timeout=delay)

    def _settle(self, batch: _Batch, result: DeliveryResult) -> None:
        with self._cond:
            if batch.settled:
                return
            batch.settled = True
            if self._inflight is batch:
                self._inflight = None
        self._report(result)


def _joined(first: str, last_error: str) -> str:
    return f"{first} (last error: {last_error})" if last_error else first


# ---------------------------------------------------------------------------------------------- DELIVERER
class Deliverer:
    """Delivers fired alerts to named channels; results come back through ``post(on_result, result)``.

    ``post`` is ``loop.call_soon_threadsafe`` for an asyncio engine (results then arrive on the loop thread);
    without it ``on_result`` is called on the channel's worker thread. ``channels`` maps names to apprise URLs
    (``ChannelStore.urls()``, read off the loop)."""

    def __init__(self, on_result: Callable[[DeliveryResult], Any], *,
                 post: Callable[..., Any] | None = None, channels: Mapping[str, str] | None = None,
                 policy: DeliveryPolicy = DeliveryPolicy()) -> None:
        self.policy = policy
        self._on_result = on_result
        self._post = post
        self._workers: dict[str, _ChannelWorker] = {}
        self._closed = False
        self._closing_results: list[DeliveryResult] | None = None
        self._lock = threading.Lock()
        for name, url in (channels or {}).items():
            self.set_channel(name, url)

    # --- COMMANDS
    def set_channel(self, name: str, url: str) -> None:
        """Add a channel, or point an existing one (and what it has queued) at a new URL."""
        remember(url)
        worker = self._workers.get(name)
        if worker is not None:
            worker.retarget(url)
        elif not self._closed:
            self._workers[name] = _ChannelWorker(name, url, self.policy, self._report)

    def remove_channel(self, name: str) -> None:
        """What the channel still holds is reported undelivered; an attempt under way may still arrive."""
        worker = self._workers.pop(name, None)
        if worker is not None:
            worker.close(time.monotonic(), f"The channel '{name}' was removed before it could deliver")

    def deliver(self, alert_id: str, title: str, body: str, channels: Iterable[str], ts: float) -> None:
        """Queue one fired alert for each channel and return at once; results follow through ``post``."""
        item = _Queued(alert_id, title, body, ts, time.perf_counter())
        for name in channels:
            worker = self._workers.get(name)
            why = worker.put(item) if worker is not None else (
                CLOSED if self._closed else f"there is no channel named '{name}' (removed, or never added)")
            if why:
                self._report(AlertUndelivered(name, (alert_id,), 0, why))

    def close(self, wait_s: float = 2.0) -> list[DeliveryResult]:
        """Give what is queued one last try for up to ``wait_s``, then report the rest undelivered.

        Returns every result reported while closing (they are posted too; the loop may not run them)."""
        with self._lock:
            if self._closed:
                return []
            self._closed = True
            self._closing_results = []
        deadline = time.monotonic() + wait_s
        workers = list(self._workers.values())
        for worker in workers:
            worker.close(deadline, CLOSED)
        for worker in workers:
            worker.thread.join(max(0.0, deadline - time.monotonic()) + 0.1)
        for worker in workers:
            if worker.thread.is_alive():
                worker.abandon()
        with self._lock:
            out, self._closing_results = self._closing_results, None
        return out

    # --- QUERIES
    def queued(self) -> dict[str, int]:
        """Alerts waiting or being sent, per channel (for a status line)."""
        return {name: w.queued() for name, w in self._workers.items()}

    @property
    def channels(self) -> list[str]:
        return sorted(self._workers)

    # --- EGRESS
    def _report(self, result: DeliveryResult) -> None:
        with self._lock:
            if self._closing_results is not None:
                self._closing_results.append(result)
        try:
            if self._post is None:
                self._on_result(result)
            else:
                self._post(self._on_result, result)
        except Exception as exc:  # noqa: BLE001 - a closed loop or a failing handler must not kill a worker
            log.error("alert delivery result not handed over (%s): %s", type(exc).__name__, redact(result))


# ---------------------------------------------------------------------------------------------- TEST
def test_channel(url_or_name: str, profile: Path | None = None, *, timeout_s: float = 10.0,
                 passphrase: str | None = None) -> tuple[bool, str]:
    """Send one "Kestrel test notification" now (blocking up to ``timeout_s``): ``(ok, sentence)``.

    For ``kestrel alerts test URL|NAME`` and the settings' Test button (run it off the UI thread). A NAME is
    looked up in the profile's ``ChannelStore``."""
    target = (url_or_name or "").strip()
    if "://" in target or not target:
        url = target
        reason = validate_url(url)
        if reason:
            return False, reason
    else:
        if profile is None:
            return False, f"'{target}' is not a URL; to test a saved channel by name, give the profile too."
        try:
            url = ChannelStore(profile, passphrase).get(target)
        except CredentialError as exc:
            return False, str(exc)
        if not url:
            return False, f"There is no channel named '{target}' in this profile."
    ok, reason, ms, _ = Sender(url).send(TEST_TITLE, TEST_BODY, timeout_s)
    where = mask_url(url)
    if ok:
        return True, f"Sent a test notification to {where} in {ms:.0f} ms."
    return False, f"Could not deliver to {where}: {reason}"


test_channel.__test__ = False  # type: ignore[attr-defined] - not a pytest test, despite its name
