"""News text: cleaning, normalised titles for de-duplication, encoding repair, and what an item is about.

CLEAN         ``clean`` unescapes HTML entities (twice: feeds double-escape), drops tags, collapses whitespace.
NORMALISED    ``norm_title``: NFKC, cleaned, lower case, every space, punctuation and symbol removed: the same
              headline from two sources, or re-sent with another id, compares equal.
MOJIBAKE      text decoded with the wrong codec (UTF-8 or GBK bytes read as Latin-1 / windows-1252) is
              repaired when re-encoding it gives valid CJK text; text that stays unreadable is refused, counted.
ABOUT         ``NewsKey.of`` turns an instrument's symbol into the key news is filed under: an A-share code
              (``600519.SH``) or a crypto base asset (``BTC``); ``SymbolMatcher`` finds keys in a text: A-share
              codes, A-share names (Chinese), crypto tickers and names as whole words.
"""
from __future__ import annotations

import html
import re
import unicodedata
from typing import Iterable, Mapping

_TAG = re.compile(r"<[^>]{0,2000}>")
_SPACE = re.compile(r"\s+")
_INLINE = re.compile(r"</?(?:b|i|u|em|strong|span|a|font|sup|sub|mark|small|big|code)\b", re.I)  # no word break
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")
ZH_SHARE = 0.3  # CJK share of the letters at or above which a text is Chinese (docs/design/issue22-news.md 2.6)
_LATIN1 = re.compile(r"[\u0080-\u00ff\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013-\u203a"
                     r"\u20ac\u2122]")
_CODE = re.compile(r"(?<![0-9A-Za-z])((?:60[0-5]|688|689|000|001|002|003|300|301)\d{3})(?:\.(SH|SZ|sh|sz))?"
                   r"(?![0-9])")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_CONTROL = dict.fromkeys(c for c in range(32) if chr(c) not in "\t\n\r")

#: common crypto names in news -> base asset
CRYPTO_NAMES = {"bitcoin": "BTC", "ether": "ETH", "ethereum": "ETH", "solana": "SOL", "ripple": "XRP",
                "litecoin": "LTC", "dogecoin": "DOGE", "cardano": "ADA", "比特币": "BTC", "以太坊": "ETH"}
#: tickers that are also English words: matched only in upper case
_AMBIGUOUS = {"ONE", "GAS", "OP", "NEAR", "ARB", "SUN", "ID", "HOT", "KEY", "ANT", "BAT"}


def clean(text: object) -> tuple[str, bool]:
    """(plain text, whether markup or entities were removed)."""
    if text is None:
        return "", False
    s = str(text)
    out = html.unescape(html.unescape(s)) if "&" in s else s
    if "<" in out:
        out = _TAG.sub(lambda m: "" if _INLINE.match(m.group(0)) else " ", out)
    out = out.translate(_CONTROL).replace("\u00a0", " ")
    out = _SPACE.sub(" ", out).strip()
    return out, out != _SPACE.sub(" ", s).strip()


def norm_title(text: str) -> str:
    s = unicodedata.normalize("NFKC", clean(text)[0]).casefold()
    return "".join(ch for ch in s if unicodedata.category(ch)[0] in "LN")


def language(text: str) -> str:
    """``"zh"`` when CJK characters are at least ``ZH_SHARE`` of CJK + ASCII letters, else ``"en"`` (also with no
    letters).

    Digits, codes such as ``600519.SH`` and punctuation do not count. No language detector: the two languages
    Kestrel scores differ by script, and a rule this simple is predictable."""
    cjk = len(_CJK.findall(text))
    latin = len(_LATIN.findall(text))
    if cjk + latin == 0:
        return "en"
    return "zh" if cjk / (cjk + latin) >= ZH_SHARE else "en"


def repair(text: str) -> tuple[str, str]:
    """(text, state): state "" (fine), "repaired" (mojibake decoded back), "unreadable"."""
    if not text or _CJK.search(text):
        return text, ""
    odd = len(_LATIN1.findall(text))
    visible = sum(1 for ch in text if not ch.isspace())
    if not visible or odd / visible < 0.3:
        return text, ""
    for wrong in ("cp1252", "latin-1"):
        try:
            raw = text.encode(wrong)
        except UnicodeEncodeError:
            continue
        for right in ("utf-8", "gb18030"):
            try:
                fixed = raw.decode(right)
            except UnicodeDecodeError:
                continue
            if _CJK.search(fixed) or not _LATIN1.search(fixed):
                return fixed, "repaired"
    return text, "unreadable"


class NewsKey:
    @staticmethod
    def of(symbol: str) -> str:
        """"600519.SH@akshare" -> "600519.SH"; "BTC/USDT@binance" -> "BTC"; "BTC/USDT:USDT" -> "BTC"."""
        s = symbol.split("@", 1)[0].strip()
        m = _CODE.fullmatch(s)
        if m:
            return _ashare(m.group(1), m.group(2))
        if "/" in s:
            return s.split("/", 1)[0].upper()
        return s.upper()


def _ashare(code: str, exch: str | None) -> str:
    if exch:
        return f"{code}.{exch.upper()}"
    return f"{code}.{'SH' if code.startswith(('6', '9')) else 'SZ'}"


class SymbolMatcher:
    """Keys an item is about, found in its text. ``names`` maps a company name (Chinese or English) to a key;
    ``tickers`` are crypto base assets matched as whole words. Longer names first, so 贵州茅台 wins over 茅台."""

    def __init__(self, names: Mapping[str, str] | None = None, tickers: Iterable[str] = ()) -> None:
        self.names = sorted(((n, k) for n, k in (names or {}).items() if len(n) >= 2), key=lambda nk: -len(nk[0]))
        self.tickers = {t.upper() for t in tickers if t}
        self.crypto = {n: k for n, k in CRYPTO_NAMES.items() if k in self.tickers}

    def find(self, text: str) -> list[tuple[str, str]]:
        """[(key, how)] with how "code" | "name" | "ticker", each key once, in order of first appearance."""
        found: dict[str, str] = {}
        for m in _CODE.finditer(text):
            found.setdefault(_ashare(m.group(1), m.group(2)), "code")
        if self.names and _CJK.search(text):
            taken = text
            for name, key in self.names:
                if name in taken:
                    found.setdefault(key, "name")
                    taken = taken.replace(name, "\u0000")  # 贵州茅台 matched: its 茅台 is not a second hit
        if self.tickers:
            for m in _WORD.finditer(text):
                w = m.group(0)
                up = w.upper()
                dollar = text[m.start() - 1:m.start()] == "$"
                if up in self.tickers and w.isupper() and (up not in _AMBIGUOUS or dollar):
                    found.setdefault(up, "ticker")
                elif (k := self.crypto.get(w.casefold())) is not None:
                    found.setdefault(k, "name")
            for n, k in self.crypto.items():  # Chinese names have no word boundaries: found inside the text
                if not n.isascii() and n in text:
                    found.setdefault(k, "name")
        return list(found.items())
