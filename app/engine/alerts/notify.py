"""From a fired alert to its channels, for the kernel: the ``Deliverer`` (delivery.py) fed by the alert engine,
channel URLs read from the OS keyring off the loop, and each outcome written beside the firing in
``alert_history`` (and shown: an alert that could not be delivered raises a warning).

LOOP          nothing here blocks the loop: the deliverer's workers send; the keyring is read on a thread; their
              results and lookups come back through a thread-safe queue that the kernel drains at each step.
CHANNELS      read from the keyring when the kernel starts (if a rule names one), and when a rule names one
              not read yet (added by ``kestrel alerts add --notify`` or the Channels dialog since): the alert
              waits for that read, then goes; a name the keyring does not hold is "undelivered", saying so.
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from pathlib import Path
from typing import Any, Callable

from app.engine.alerts.delivery import (
    AlertDelivered, AlertRetrying, AlertThrottled, AlertUndelivered, Deliverer, DeliveryPolicy,
)
from app.engine.core.messages import Alert, AlertChannelsChanged, AlertFired

log = logging.getLogger("kestrel.alerts")


class AlertNotifier:
    def __init__(self, engine: Any, profile: Path, bus: Any, clock: Any, policy: DeliveryPolicy | None = None,
                 channel_store: Callable[[], Any] | None = None) -> None:
        self.engine, self.bus, self.clock = engine, bus, clock
        self._posted: deque = deque()  # (fn, args) from other threads, run by ``drain`` on the loop
        self.deliverer = Deliverer(self._on_result, post=lambda fn, *args: self._posted.append((fn, args)),
                                   policy=policy or DeliveryPolicy())
        if channel_store is None:
            def channel_store() -> Any:
                from app.engine.alerts.channels import ChannelStore

                return ChannelStore(profile)
        self._channel_store = channel_store
        self._known: set[str] = set()  # channel names the deliverer has
        self._absent: set[str] = set()  # names the keyring did not hold at the last read
        self._waiting: list[tuple[AlertFired, int]] = []  # alerts waiting for a channel's read
        self._reading = False
        self._again = self._replace = False
        self.results: deque = deque(maxlen=200)  # the latest outcomes, for a view
        engine.on_fire.append(self.fired)
        bus.subscribe(AlertChannelsChanged, lambda _cmd: self._read(again=True))

    # ------------------------------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Read every channel from the keyring, on a thread, if a rule names one (else the keyring is not asked:
        a machine without one and without channels is never asked for a passphrase or warned). Alerts whose
        delivery never ended (the terminal was killed while they were queued) are sent again, saying so: a
        trader may get one twice after a crash, never none."""
        try:
            pending = self.engine.store.pending_deliveries()
        except Exception as exc:  # noqa: BLE001 - sqlite3.Error: said in the log, the terminal goes on
            log.warning("alert deliveries left by the last run could not be read: %s", exc)
            pending = []
        for row in pending:
            ev = AlertFired(row["rule_id"], row["kind"], row["symbol"], f"(again after a restart) {row['title']}",
                            row["message"], row["value"] if row["value"] is not None else float("nan"),
                            tuple(row["pending"]), row["throttled"], row["ts"])
            self._waiting.append((ev, row["seq"]))
        if pending or any(r.channels for r in self.engine.rules.values()):
            self._read()

    def drain(self) -> None:
        """Run what the deliverer's workers and the keyring reads posted (on the loop, each kernel step)."""
        posted = self._posted
        while posted:
            fn, args = posted.popleft()
            try:
                fn(*args)
            except Exception:  # noqa: BLE001 - one bad result must not stop the others
                log.exception("alert delivery: handling a result failed")

    def close(self, wait_s: float = 2.0) -> None:
        """One last try for what is queued (at most ``wait_s``), then the rest recorded as undelivered."""
        for fn, args in [(self._on_result, (r,)) for r in self.deliverer.close(wait_s)]:
            fn(*args)
        self._posted.clear()

    # ------------------------------------------------------------------------------------------ firing
    def fired(self, ev: AlertFired, seq: int) -> None:
        """The engine fired ``ev`` (history row ``seq``): to its channels (the window shows every alert)."""
        if not ev.channels:
            return
        if any(c not in self._known and c not in self._absent for c in ev.channels):
            self._waiting.append((ev, seq))
            self._read()
            return
        self._send(ev, seq)

    def _send(self, ev: AlertFired, seq: int) -> None:
        for c in ev.channels:
            self._record(seq, c, "queued")
        self.deliverer.deliver(str(seq), ev.title, ev.message, ev.channels, ev.ts)

    # ------------------------------------------------------------------------------------------ keyring
    def _read(self, again: bool = False) -> None:
        if self._reading:
            self._again = self._again or again
            return
        self._reading, self._again = True, False
        self._replace = again

        def read() -> None:
            try:
                urls = self._channel_store().urls()
                error = ""
            except Exception as exc:  # noqa: BLE001 - a locked or missing keyring: said, alerts still shown
                urls, error = {}, str(exc)
            self._posted.append((self._have, (urls, error)))

        threading.Thread(target=read, name="alert-channels", daemon=True).start()

    def _have(self, urls: dict[str, str], error: str) -> None:
        self._reading = False
        for name, url in urls.items():
            self.deliverer.set_channel(name, url)
        if self._replace and not error:  # the keyring is the truth: a channel no longer there is let go
            for name in self._known - set(urls):
                self.deliverer.remove_channel(name)
            self._known = set()
        self._known |= set(urls)
        waiting, self._waiting = self._waiting, []
        self._absent = {c for ev, _ in waiting for c in ev.channels if c not in self._known}
        if error:
            self.bus.publish(Alert("warning", "Alert channels not read",
                                   f"The notification channels could not be read from the keyring ({error}); "
                                   f"alerts are shown in the window only.", self.clock.now_ms()))
        for ev, seq in waiting:
            self._send(ev, seq)
        if self._again:
            self._read(again=True)

    # ------------------------------------------------------------------------------------------ outcomes
    def _on_result(self, r: Any) -> None:
        self.results.append(r)
        if isinstance(r, AlertDelivered):
            status = f"delivered (try {r.attempt}, {r.latency_ms:.0f} ms)"
        elif isinstance(r, AlertRetrying):
            status = f"retrying (try {r.attempt} failed: {r.reason}; next in {r.next_in_s:.0f} s)"
        elif isinstance(r, AlertThrottled):
            status = f"throttled: sent with {r.merged - 1} other(s) in one message"
        elif isinstance(r, AlertUndelivered):
            status = f"undelivered: {r.reason}"
            self.bus.publish(Alert("warning", f"Alert not delivered to {r.channel}",
                                   f"{r.reason}. It is in the Alerts dock's history.", self.clock.now_ms(),
                                   {"event": "alert_undelivered", "channel": r.channel}))
        else:
            return
        for seq in r.alert_ids:
            self._record(int(seq), r.channel, status)

    def _record(self, seq: int, channel: str, status: str) -> None:
        if not seq:
            return
        try:
            self.engine.store.record_delivery(seq, channel, status)
        except Exception as exc:  # noqa: BLE001 - sqlite3.Error: the outcome is still shown
            log.warning("alert %s: delivery to %s (%s) not recorded: %s", seq, channel, status, exc)
        self.engine.version += 1
