"""Named watchlists: a person's lists of instruments (``{"Default": [ids], "Crypto": [...]}``) and the one
shown, kept in the profile (the settings row ``watchlists``). The watchlist dock renders this model.

ENTRIES   instrument ids (``BTC/USDT@binance``). An entry whose venue is not connected (not in the
          instrument table) is kept and shown as unavailable; it is back when its venue is. ``rows`` gives
          each entry's instrument and the table's key for it (the id; a bare symbol in a table keyed so).
DEFAULT   with nothing saved: one list "Default" holding the table's instruments. An instrument that joins
          the table later (a venue connected, a market subscribed) joins "Default" too, once: one a person
          removed stays removed (``seen`` remembers every id ever offered).
SAVED     ``{"version": 1, "current": name, "lists": {name: [ids]}, "seen": [ids]}``; the bare form
          ``{name: [ids]}`` (the profile migration's) is read too. A value that cannot be read is reported
          (``problem``), what can be read of it is kept, and the default fills the rest; nothing is written
          until a person changes a list, so the value stays there to be looked at.
EDITS     create, rename, delete (never the last list), select; add, remove, move an entry. Each is saved at
          once and moves ``version``; a refused edit raises ``WatchlistError`` saying why.
"""
from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from typing import Any

from app.engine.core.instruments import Instrument, InstrumentTable, split_id

log = logging.getLogger("kestrel.watchlists")

SETTING = "watchlists"
DEFAULT = "Default"
MAX_NAME = 40


class WatchlistError(ValueError):
    """An edit that cannot be made (an empty or taken name, the last list...): the message says why."""


@dataclass(frozen=True, slots=True)
class WatchRow:
    """One entry of a list as the dock shows it: ``key`` and ``instrument`` are None while its venue is not
    connected (``venue`` then says which)."""

    id: str
    symbol: str
    venue: str
    key: str | None
    instrument: Instrument | None

    @property
    def available(self) -> bool:
        return self.instrument is not None


class Watchlists:
    """The profile's watchlists over the instrument table ``instruments`` (live: venues add to it).
    ``settings`` is the profile store (``get_setting``/``set_setting``)."""

    def __init__(self, settings: Any, instruments: InstrumentTable) -> None:
        self._settings = settings
        self._table = instruments
        self._table_len = -1
        self.version = 0
        self.problem = ""  # why the saved watchlists could not be read (or saved), for the person; "" if fine
        self._lists: dict[str, list[str]] = {}
        self._current = DEFAULT
        self._seen: set[str] = set()
        self._saved = self._load()
        self._follow()

    # -------------------------------------------------------------------------------------------- reading
    @property
    def names(self) -> list[str]:
        return list(self._lists)

    @property
    def current(self) -> str:
        return self._current

    def ids(self, name: str | None = None) -> list[str]:
        """The entries of list ``name`` (the current one by default), in order."""
        self._follow()
        return list(self._lists[self._name(name)])

    def rows(self, name: str | None = None) -> list[WatchRow]:
        """The entries of list ``name`` with their instruments (None: venue not connected)."""
        self._follow()
        out = []
        for entry in self._lists[self._name(name)]:
            symbol, venue = split_id(entry)
            inst = dict.get(self._table, entry) or self._bare(entry)
            out.append(WatchRow(entry, symbol, venue or "", inst.id if inst is not None else None, inst))
        return out

    def id_of(self, text: str) -> str:
        """The id an entry is kept under: ``text`` if it is an id, else the id of the table's instrument it
        names (a bare symbol one venue lists), else ``text`` (one several venues list is kept as typed)."""
        return self._table.canonical(text)

    # -------------------------------------------------------------------------------------------- editing
    def select(self, name: str) -> None:
        name = self._name(name)
        if name != self._current:
            self._current = name
            self._changed()

    def create(self, name: str) -> str:
        """A new empty list (also made current); returns its name as kept (trimmed)."""
        name = self._new_name(name)
        self._lists[name] = []
        self._current = name
        self._changed()
        return name

    def rename(self, old: str, new: str) -> str:
        old = self._name(old)
        new = " ".join(new.split())
        if new == old:
            return old
        new = self._new_name(new)
        self._lists = {(new if n == old else n): ids for n, ids in self._lists.items()}  # keeps its place
        if self._current == old:
            self._current = new
        self._changed()
        return new

    def delete(self, name: str) -> None:
        name = self._name(name)
        if len(self._lists) == 1:
            raise WatchlistError(f"{name} is the only list: rename it or remove its entries instead")
        del self._lists[name]
        if self._current == name:
            self._current = next(iter(self._lists))
        self._changed()

    def add(self, entry: str, name: str | None = None) -> bool:
        """Add ``entry`` (an id, or a table key) at the end of list ``name``; False if it is there already."""
        ids = self._lists[self._name(name)]
        entry = self.id_of(entry)
        self._seen.add(entry)
        if entry in ids:
            return False
        ids.append(entry)
        self._changed()
        return True

    def remove(self, entry: str, name: str | None = None) -> bool:
        ids = self._lists[self._name(name)]
        entry = self.id_of(entry)
        if entry not in ids:
            return False
        ids.remove(entry)
        self._changed()
        return True

    def move(self, entry: str, index: int, name: str | None = None) -> None:
        """Put ``entry`` at position ``index`` of list ``name`` (clamped to the list)."""
        ids = self._lists[self._name(name)]
        entry = self.id_of(entry)
        if entry not in ids:
            raise WatchlistError(f"{entry} is not in {self._name(name)}")
        ids.remove(entry)
        ids.insert(max(0, min(index, len(ids))), entry)
        self._changed()

    # ------------------------------------------------------------------------------------------- internals
    def _name(self, name: str | None) -> str:
        if name is None:
            return self._current
        if name not in self._lists:
            raise WatchlistError(f"there is no watchlist named {name!r}")
        return name

    def _new_name(self, name: str) -> str:
        name = " ".join(str(name).split())
        if not name:
            raise WatchlistError("a watchlist needs a name")
        if len(name) > MAX_NAME:
            raise WatchlistError(f"a watchlist's name has at most {MAX_NAME} characters")
        if name in self._lists:
            raise WatchlistError(f"there is a watchlist named {name} already")
        return name

    def _bare(self, entry: str) -> Instrument | None:
        """A bare symbol kept from an old value: the one instrument the table has for it, if any."""
        if split_id(entry)[1] is not None:
            return None
        try:
            return self._table.get(entry)
        except KeyError:  # listed by several venues: which one is meant cannot be told
            return None

    def _follow(self) -> None:
        """Instruments new to the table join "Default" (once each)."""
        if len(self._table) == self._table_len:
            return
        self._table_len = len(self._table)
        new = [i.id for i in self._table.values() if i.id not in self._seen]
        if not new:
            return
        self._seen.update(new)
        default = self._lists.get(DEFAULT)
        if default is not None:
            default += [i for i in new if i not in default]
        self.version += 1
        if self._saved:
            self._save()

    def _changed(self) -> None:
        self.version += 1
        self._saved = True
        self._save()

    def _save(self) -> None:
        value = {"version": 1, "current": self._current, "lists": self._lists, "seen": sorted(self._seen)}
        try:
            self._settings.set_setting(SETTING, value)
        except sqlite3.Error as exc:  # the lists still work this session; the person is told
            self.problem = (f"the watchlists could not be saved ({exc}); changes last until the terminal "
                            f"closes")
            log.warning("%s", self.problem)

    def _load(self) -> bool:
        """Read the saved value; True if there was one (readable or not)."""
        try:
            raw = self._settings.get_setting(SETTING)
        except (ValueError, sqlite3.Error) as exc:  # not JSON, or the row cannot be read
            return self._unreadable(f"it is not readable ({exc})")
        if raw is None:  # a new profile: the default, written at the first change
            self._lists = {DEFAULT: []}
            return False
        if isinstance(raw, dict) and isinstance(raw.get("lists"), dict):
            lists, current, seen = raw["lists"], raw.get("current"), raw.get("seen", [])
        elif isinstance(raw, dict):  # the bare form: {name: [ids]}
            lists, current, seen = raw, None, []
        else:
            return self._unreadable(f"a {type(raw).__name__} is not a set of lists")
        bad: list[str] = []
        for name, ids in lists.items():
            clean = " ".join(str(name).split())[:MAX_NAME]
            if not clean or clean in self._lists or not isinstance(ids, list):
                bad.append(f"list {name!r}")
                continue
            kept = [self.id_of(i) for i in ids if isinstance(i, str) and i.strip()]
            dropped = len(ids) - len(kept)
            if dropped:
                bad.append(f"{dropped} entr{'y' if dropped == 1 else 'ies'} of {clean}")
            self._lists[clean] = list(dict.fromkeys(kept))
        if not self._lists:
            return self._unreadable("it holds no list")
        known = isinstance(current, str) and current in self._lists
        self._current = current if known else next(iter(self._lists))
        self._seen = {s for s in seen if isinstance(s, str)} if isinstance(seen, list) else set()
        self._seen.update(i for ids in self._lists.values() for i in ids)
        if bad:  # kept as saved until a person changes a list
            self.problem = f"Some saved watchlists could not be read and were left out: {', '.join(bad)}."
            log.warning("%s", self.problem)
        return not bad

    def _unreadable(self, why: str) -> bool:
        self.problem = (f"The saved watchlists could not be read: {why}. Showing the default list; your next "
                        f"change to a list replaces them.")
        log.warning("%s", self.problem)
        self._lists, self._current, self._seen = {DEFAULT: []}, DEFAULT, set()
        return False
