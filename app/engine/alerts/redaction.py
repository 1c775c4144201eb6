"""Secrets out of every text the alert delivery produces: its results, its log lines, apprise's and urllib3's.

A notification URL is a credential: the bot token of ``tgram://TOKEN/CHAT``, the password of
``json://user:pass@host``, the id and token of ``discord://ID/TOKEN``, an ntfy topic. Two layers:

- every channel URL handed to apprise is first ``remember``-ed (in memory only), and each of its secret parts
  is replaced by ``***`` wherever it shows up, however a library reshapes the URL (urllib3 logs the request
  path ``/bot<TOKEN>/sendMessage``; apprise's TRACE lines print the parsed fields one by one);
- any ``scheme://...`` still in the text keeps its scheme, and its host only where the scheme names a real
  host (http, json, ...): ``tgram://***``, ``https://api.telegram.org/***``.

``guard_library_logs()`` installs the same redaction as a filter on the loggers that see these URLs and keeps
apprise's logger at WARNING unless someone set it (its DEBUG and TRACE lines print parsed URLs and payloads).
"""
from __future__ import annotations

import logging
import re
import threading
from urllib.parse import parse_qsl, quote, unquote

MASK = "***"
# schemes whose host part is a host, never a token (``tgram://TOKEN``, ``ntfy://TOPIC`` are not among them)
HOSTED = frozenset({"http", "https", "ws", "wss", "json", "jsons", "xml", "xmls", "form", "forms",
                    "mailto", "mailtos"})
_NOT_SECRET = frozenset({"true", "false", "post", "get", "put", "patch", "none", "default", "text", "html",
                         "markdown", "normal", "high", "info", "warning", "failure", "success"})
_SCHEME = re.compile(r"^\s*([A-Za-z][A-Za-z0-9+.-]{0,31})://(.*)$", re.S)
_URL = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]{0,31})://([^\s\"'<>]*)")
_SPLIT = re.compile(r"[/:@?&=#,;+\s]+")
# a logger's filters see only its own records, not its children's: each module logger that prints URLs or paths
_LOGGERS = ("apprise", "urllib3.connectionpool", "urllib3.poolmanager", "urllib3.util.retry", "urllib3.connection",
            "urllib3.response")

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


def split_url(url: str) -> tuple[str, str, str, str] | None:
    """(scheme, userinfo, host[:port], rest) of ``scheme://[userinfo@]host[:port][/rest]``, or None."""
    m = _SCHEME.match(url)
    if not m:
        return None
    scheme, tail = m.group(1).lower(), m.group(2)
    cut = min((i for i in (tail.find("/"), tail.find("?"), tail.find("#")) if i >= 0), default=len(tail))
    netloc, rest = tail[:cut], tail[cut:]
    userinfo, _, hostport = netloc.rpartition("@")
    return scheme, userinfo, hostport, rest


def secret_parts(url: str) -> set[str]:
    """The literals of ``url`` that must never be shown: all of it but the scheme, a real host, its port,
    query keys and a few plain words (``yes``, ``POST``)."""
    parts = split_url(url)
    if parts is None:
        return {url.strip()} if len(url.strip()) >= 4 else set()
    scheme, userinfo, hostport, rest = parts
    keep = {scheme}
    path, _, query = rest.partition("?")
    pieces = _SPLIT.split(userinfo) + _SPLIT.split(path)
    if scheme in HOSTED:
        keep.update(hostport.split(":"))
    else:
        pieces += [hostport, *_SPLIT.split(hostport)]
    pieces += [v for _, v in parse_qsl(query, keep_blank_values=False)]
    whole = url.strip()
    found = {whole, whole.split("://", 1)[1]}
    for piece in pieces:
        for v in (piece, unquote(piece), quote(unquote(piece), safe="")):
            if len(v) >= 4 and v not in keep and v.lower() not in _NOT_SECRET:
                found.add(v)
    return {s for s in found if len(s) >= 4}


def remember(url: str) -> None:
    """Mask ``url``'s secrets in everything ``redact`` sees from now on (kept in memory, never written)."""
    global _pattern
    new = secret_parts(url)
    with _lock:
        if new <= _secrets:
            return
        _secrets.update(new)
        alternatives = sorted(_secrets, key=len, reverse=True)  # the longest first: a whole URL before its parts
        _pattern = re.compile("|".join(re.escape(s) for s in alternatives))


def _mask_url(m: re.Match[str]) -> str:
    scheme, tail = m.group(1), m.group(2)
    if not tail:
        return m.group(0)
    if scheme.lower() in HOSTED:
        _, _, hostport, rest = split_url(f"{scheme}://{tail}") or ("", "", "", tail)
        hostport = hostport.replace(MASK, "")
        if hostport and hostport.strip(":"):
            return f"{scheme}://{hostport}/{MASK}" if rest.strip("/") else f"{scheme}://{hostport}"
    return f"{scheme}://{MASK}"


def redact(text: object) -> str:
    """``text`` with every remembered secret and the credentials of any URL replaced by ``***``."""
    out = _URL.sub(_mask_url, str(text))
    pattern = _pattern
    return pattern.sub(MASK, out) if pattern is not None else out


class RedactingFilter(logging.Filter):
    """Rewrites a record's message (and its traceback text) through ``redact`` before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record still must not leak
            message = f"{record.msg} {record.args}"
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_FILTER = RedactingFilter()


def guard_library_logs() -> None:
    """Idempotent: the redacting filter on apprise's and urllib3's loggers, apprise's kept at WARNING."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    apprise_logger = logging.getLogger("apprise")
    if apprise_logger.level == logging.NOTSET:
        apprise_logger.setLevel(logging.WARNING)
