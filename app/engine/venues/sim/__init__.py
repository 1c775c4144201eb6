"""The built-in simulated venue ``sim``: order books, a seeded market model, and the exchange adapter."""
from app.engine.venues.sim.venue import EXTERNAL, SimVenue
from app.engine.venues.sim.market_model import DEFAULT_PARAMS, MAKER, TAKER, MarketModel, ModelParams, daily_limits
from app.engine.venues.sim.orderbook import OWNER_CLIENT, BookOrder, Depth, Fill, MatchResult, OrderBook

__all__ = [
    "SimVenue", "EXTERNAL", "OrderBook", "BookOrder", "Fill", "MatchResult", "Depth", "OWNER_CLIENT",
    "MarketModel", "ModelParams", "DEFAULT_PARAMS", "MAKER", "TAKER", "daily_limits",
]
