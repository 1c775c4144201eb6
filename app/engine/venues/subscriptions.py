"""Markets subscribed at run time: ``SubscribeMarket`` (the Find symbol dialog) makes one more market of a
running venue streamed and tradeable, and adds it to the venue's saved symbols, so it is back after a restart.

The adapter does the venue's part (``subscribe(symbol)``: ccxt starts the market's streams, akshare puts the
code in its quote loop); then the instrument joins the kernel's table through the manager, as the venue's
others did when it connected. A venue with a fixed set of markets (the sim, a replay) has no ``subscribe``:
its markets are all subscribed already.
"""
from __future__ import annotations

import logging
from typing import Any

from app.engine.core.instruments import Instrument
from app.engine.core.messages import CommandDone, CommandRefused
from app.engine.venues.events import SubscribeMarket
from app.engine.venues.venue_config import VenueConfigError, config_path, load_config, save_config

log = logging.getLogger("kestrel.venues")


class MarketSubscriptions:
    """Carries out ``SubscribeMarket`` for the venue manager (``manager.venues``: the running adapters)."""

    def __init__(self, manager: Any) -> None:
        self.manager = manager
        manager.kernel.bus.subscribe(SubscribeMarket, self._on_subscribe)

    def subscribe(self, venue: str, symbol: str) -> tuple[Instrument, str]:
        """Subscribe ``symbol`` on the running ``venue``: its instrument, and a note for the person ("" or why
        it was not saved). ValueError, saying why, when it cannot be done."""
        adapter = self.manager.venues.get(venue)
        if adapter is None:
            raise ValueError(f"venue {venue} is not connected; connect it in the Venues dock first")
        inst = next((i for i in adapter.instruments() if i.symbol == symbol), None)
        if inst is not None and self.manager.kernel.instruments.get(inst.id) == inst:
            return inst, ""  # subscribed already: nothing changes
        note = ""
        if inst is None:
            subscribe = getattr(adapter, "subscribe", None)
            if subscribe is None:
                raise ValueError(f"{venue} does not list {symbol}")
            inst = subscribe(symbol)
            note = save_symbol(self.manager.kernel.profile, venue, symbol)
        self.manager._add_instruments(venue, adapter.instruments())
        return inst, note

    def _on_subscribe(self, cmd: SubscribeMarket) -> None:
        bus, now = self.manager.kernel.bus, self.manager.kernel.clock.now_ms()
        try:
            inst, note = self.subscribe(cmd.venue, cmd.symbol)
        except ValueError as exc:
            bus.publish(CommandRefused.to(cmd, str(exc), now))
            return
        log.info("%s subscribed on %s%s", cmd.symbol, cmd.venue, f" ({note})" if note else "")
        bus.publish(CommandDone.to(cmd, inst.id + (f"; {note}" if note else ""), now))


def save_symbol(profile: Any, venue: str, symbol: str) -> str:
    """Add ``symbol`` to the saved config of ``venue`` (a venue run without a saved config has none to
    change). Returns "" or why it could not be saved: the subscription holds until the terminal closes."""
    path = config_path(profile, venue)
    if not path.exists():
        return ""
    try:
        cfg = load_config(path)
        if symbol not in cfg.symbols:
            save_config(profile, cfg.model_copy(update={"symbols": [*cfg.symbols, symbol]}))
    except (OSError, VenueConfigError) as exc:
        log.warning("could not save %s in the config of %s: %s", symbol, venue, exc)
        return f"not saved in {path.name} ({exc}): it is gone after a restart"
    return ""
