"""The in-process message bus: synchronous, typed, and impossible to stop with a bad handler.

The hot path (tick -> indicators -> strategy -> risk -> router) runs as plain synchronous calls through
``publish``: no queue, no thread hop, no ``await`` per message. A handler that raises is logged with its
origin (handler and message type) and dispatch continues with the next handler; this is the property
vn.py's event engine lacks.

Dispatch is depth-first: a handler that publishes causes nested dispatch before ``publish`` returns.
Handlers are matched on the message's class and its bases, so ``subscribe(object, h)`` sees everything.
A handler that feeds itself (publishes what it reacts to) would recurse without end: nesting deeper than
``MAX_DEPTH`` drops the message with a logged error instead.

``call_when_idle(fn)`` runs ``fn`` once the outermost ``publish`` returns (at once if nothing is being
dispatched). The ExecutionEngine uses it for group commit: every order caused by one message (a tick, a
click) is journaled in one SQLite commit, then all are sent, before ``publish`` returns to its caller.
``wants(type)`` lets a publisher skip building a message nobody subscribes to.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

Handler = Callable[[Any], None]

log = logging.getLogger("kestrel.bus")
MAX_DEPTH = 64


class MessageBus:
    def __init__(self) -> None:
        self._subs: dict[type, list[Handler]] = {}
        self._dispatch: dict[type, tuple[Handler, ...]] = {}
        self.published = 0  # total messages published: the status bar derives messages/s from it
        self.handler_errors = 0
        self.dropped = 0  # messages dropped by the depth guard
        self._depth = 0
        self._idle: list[Callable[[], None]] = []
        self._error_counts: dict[tuple[str, str], int] = {}

    def subscribe(self, msg_type: type, handler: Handler) -> Callable[[], None]:
        """Call ``handler(msg)`` for every published message that is an instance of ``msg_type``.

        Returns a function that removes the subscription.
        """
        self._subs.setdefault(msg_type, []).append(handler)
        self._dispatch.clear()
        return lambda: self.unsubscribe(msg_type, handler)

    def unsubscribe(self, msg_type: type, handler: Handler) -> None:
        handlers = self._subs.get(msg_type, [])
        if handler in handlers:
            handlers.remove(handler)
            self._dispatch.clear()

    def wants(self, msg_type: type) -> bool:
        """Does any handler receive messages of ``msg_type``? (Cached; as cheap as a dict lookup.)"""
        handlers = self._dispatch.get(msg_type)
        if handlers is None:
            handlers = self._resolve(msg_type)
        return bool(handlers)

    def call_when_idle(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` when the outermost dispatch ends (now, if none is running). Registering the same
        function again before it ran has no effect. Exceptions propagate to the caller of ``publish`` (a
        callback that must not fail guards itself)."""
        if self._depth == 0:
            fn()
        elif fn not in self._idle:
            self._idle.append(fn)

    def publish(self, msg: Any) -> None:
        self.published += 1
        handlers = self._dispatch.get(type(msg))
        if handlers is None:
            handlers = self._resolve(type(msg))
        if self._depth >= MAX_DEPTH:
            self._drop(msg)
            return
        self._depth += 1
        try:
            for handler in handlers:
                try:
                    handler(msg)
                except Exception:  # noqa: BLE001 - one bad handler must never stop dispatch to the others
                    self._report(handler, msg)
        finally:
            self._depth -= 1
        if self._idle and not self._depth:
            self._run_idle()

    def _run_idle(self) -> None:
        while self._idle:
            self._idle.pop(0)()

    def _drop(self, msg: Any) -> None:
        self.dropped += 1
        if self.dropped <= 5 or self.dropped % 1000 == 0:
            log.error("dropped %s: publish nested %d deep (a handler reacting to its own messages?); "
                      "%d dropped so far", type(msg).__name__, MAX_DEPTH, self.dropped)

    def _resolve(self, msg_type: type) -> tuple[Handler, ...]:
        handlers: list[Handler] = []
        for base in msg_type.__mro__:
            handlers.extend(self._subs.get(base, ()))
        resolved = tuple(handlers)
        self._dispatch[msg_type] = resolved
        return resolved

    def _report(self, handler: Handler, msg: Any) -> None:
        self.handler_errors += 1
        origin = getattr(handler, "__qualname__", None) or repr(handler)
        module = getattr(handler, "__module__", "?")
        key = (f"{module}.{origin}", type(msg).__name__)
        n = self._error_counts.get(key, 0) + 1
        self._error_counts[key] = n
        if n <= 5 or n % 1000 == 0:  # a handler failing on every tick must not flood the log
            log.exception("handler %s failed on %s (failure #%d); dispatch continued", key[0], key[1], n)
