"""A real HTTP receiver on 127.0.0.1 for notification tests: it answers 200, refuses with 500, or hangs.

``with WebhookReceiver() as hook:`` serves on a free port in a thread; ``hook.url("path")`` is the apprise URL
(``json://127.0.0.1:PORT/path``). Every request is recorded (``hook.requests``: arrival time, path, JSON body,
the answer given), refused and hung ones included, so a test counts the attempts. ``hook.mode`` is ``"ok"``,
``"refuse"`` or ``"hang"`` (holds the request until ``hang_s`` passes, the receiver stops or the client hangs up,
noted in ``hook.hangups``); ``refuse_next(n)``
refuses the next n requests, then answers 200. ``closed_port()`` is a port nothing listens on (a channel down);
``WebhookReceiver(port=p)`` brings it back up.
"""
from __future__ import annotations

import json
import select
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    at: float  # time.perf_counter() on arrival
    path: str
    body: Any
    answered: str  # "ok", "refuse" or "hang"
    authorization: str | None


class WebhookReceiver:
    def __init__(self, mode: str = "ok", hang_s: float = 30.0, port: int = 0) -> None:
        self.mode = mode
        self.hang_s = hang_s
        self.requests: list[Received] = []
        self.hangups: list[float] = []  # when a client gave up on a hung request (time.perf_counter())
        self._refuse_left = 0
        self._lock = threading.Lock()
        self._released = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw or b"null")
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                answer = receiver._answer()
                receiver._record(Received(time.perf_counter(), self.path, body, answer,
                                          self.headers.get("Authorization")))
                if answer == "hang":
                    receiver._hold(self.connection)
                    return
                code = 200 if answer == "ok" else 500
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server API
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True)

    def url(self, path: str = "hook", scheme: str = "json", userinfo: str = "") -> str:
        at = f"{userinfo}@" if userinfo else ""
        return f"{scheme}://{at}127.0.0.1:{self.port}/{path}"

    def refuse_next(self, n: int) -> None:
        with self._lock:
            self._refuse_left = n

    def received(self, answered: str = "ok") -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.answered == answered]

    def _answer(self) -> str:
        with self._lock:
            if self._refuse_left > 0:
                self._refuse_left -= 1
                return "refuse"
            return self.mode

    def _hold(self, conn: socket.socket) -> None:
        """Answer nothing until released; note when the client gives up and closes its end."""
        end = time.monotonic() + self.hang_s
        while not self._released.wait(0.02) and time.monotonic() < end:
            readable, _, _ = select.select([conn], [], [], 0)
            try:
                gone = bool(readable) and conn.recv(1, socket.MSG_PEEK) == b""
            except OSError:
                gone = True
            if gone:
                with self._lock:
                    self.hangups.append(time.perf_counter())
                return

    def _record(self, r: Received) -> None:
        with self._lock:
            self.requests.append(r)

    def start(self) -> "WebhookReceiver":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> "WebhookReceiver":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
