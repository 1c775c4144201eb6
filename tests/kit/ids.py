"""Instrument ids in tests: the bus and every read model name an instrument by its id, ``BTC/USDT@sim``."""
from __future__ import annotations

from app.engine.core.instruments import make_id


def sid(symbol: str, venue: str = "sim") -> str:
    """The id of ``symbol`` on ``venue`` (the sim by default): ``sid("BTC/USDT") == "BTC/USDT@sim"``."""
    return make_id(symbol, venue)
