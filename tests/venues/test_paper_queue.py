"""The paper queue model: a resting paper order fills only after the volume ahead of it has traded or left."""
from __future__ import annotations

import pytest

from app.engine.core.messages import BookSnapshot, Side, TradeTick
from app.engine.venues.paper.queue import QueueModel

B, S = Side.BUY, Side.SELL


def book(bids, asks, ts=0) -> BookSnapshot:
    return BookSnapshot("X", tuple(bids), tuple(asks), ts)


def trade(price, size, aggressor=S, ts=0, n=[0]) -> TradeTick:  # noqa: B006 - a counter for ids
    n[0] += 1
    return TradeTick("X", price, size, aggressor, str(n[0]), ts)


def qty(fills) -> float:
    return round(sum(f.qty for f in fills), 9)


def test_a_bid_at_a_busy_price_fills_only_after_the_volume_ahead_has_traded():
    q = QueueModel()
    q.on_book(book([(100.0, 5.0), (99.0, 8.0)], [(101.0, 4.0)]))
    assert q.place("a", B, 100.0, 1.0) == []  # joins behind 5
    assert q.orders["a"].ahead == 5.0
    assert q.on_trade(trade(100.0, 3.0)) == []  # 2 ahead now
    assert q.on_trade(trade(100.0, 1.5)) == []  # 0.5 ahead
    fills = q.on_trade(trade(100.0, 1.0))  # 0.5 uses up the queue, 0.5 is ours
    assert qty(fills) == 0.5 and fills[0].price == 100.0 and fills[0].maker
    assert qty(q.on_trade(trade(100.0, 2.0))) == 0.5 and "a" not in q.orders  # done, no more than asked


def test_the_naive_touch_would_have_filled_here_the_queue_does_not():
    q = QueueModel()
    q.on_book(book([(100.0, 50.0)], [(101.0, 4.0)]))
    q.place("a", B, 100.0, 1.0)
    assert q.on_trade(trade(100.0, 10.0)) == []  # the price touched us, 40 still ahead
    assert q.orders["a"].ahead == 40.0


def test_a_trade_through_our_price_fills_in_full():
    q = QueueModel()
    q.on_book(book([(100.0, 50.0)], [(101.0, 4.0)]))
    q.place("a", B, 100.0, 2.0)
    fills = q.on_trade(trade(99.5, 0.1))
    assert qty(fills) == 2.0 and fills[0].price == 100.0


def test_cancels_ahead_are_taken_pro_rata_and_an_emptied_level_puts_us_at_its_front():
    q = QueueModel()
    q.on_book(book([(100.0, 10.0)], [(101.0, 4.0)]))
    q.place("a", B, 100.0, 1.0)  # 10 ahead
    q.on_book(book([(100.0, 14.0)], [(101.0, 4.0)]))  # 4 joined behind us: nothing ahead changes
    assert q.orders["a"].ahead == 10.0
    q.on_trade(trade(100.0, 2.0))  # 8 ahead; the level shows 12 if nothing else happened
    q.on_book(book([(100.0, 6.0)], [(101.0, 4.0)]))  # 6 more left than traded: cancels
    assert q.orders["a"].ahead == pytest.approx(8.0 - 6.0 * 8.0 / 12.0)  # 8 of the 12 the trade left
    q.on_book(book([(99.0, 3.0)], [(101.0, 4.0)]))  # the level emptied (our bid is now the best)
    assert q.orders["a"].ahead == 0.0
    assert qty(q.on_trade(trade(100.0, 0.4))) == 0.4


def test_a_trade_printed_after_the_book_that_already_shows_it_is_not_counted_twice():
    q = QueueModel()
    q.on_book(book([(100.0, 10.0)], [(101.0, 4.0)], ts=0))
    q.place("a", B, 100.0, 1.0)  # 10 ahead
    q.on_book(book([(100.0, 6.0)], [(101.0, 4.0)], ts=100))  # 4 lots traded; their print is not here yet
    assert q.orders["a"].ahead == pytest.approx(6.0)  # for now, cancels: 4 of the 10, all ahead of us
    assert q.on_trade(trade(100.0, 4.0, ts=95)) == []  # the print: it was those 4, not 4 more
    assert q.orders["a"].ahead == pytest.approx(6.0)
    assert q.on_trade(trade(100.0, 6.0, ts=300)) == [] and q.orders["a"].ahead == pytest.approx(0.0)
    assert qty(q.on_trade(trade(100.0, 1.0, ts=400))) == 1.0


def test_a_trade_printed_before_the_book_that_shows_it_explains_that_books_drop():
    q = QueueModel()
    q.on_book(book([(100.0, 10.0)], [(101.0, 4.0)], ts=0))
    q.place("a", B, 100.0, 1.0)
    q.on_trade(trade(100.0, 4.0, ts=120))  # 6 ahead
    q.on_book(book([(100.0, 10.0)], [(101.0, 4.0)], ts=100))  # taken before the trade: it does not show it yet
    q.on_book(book([(100.0, 6.0)], [(101.0, 4.0)], ts=200))  # it does now: the drop is that trade, no cancel
    assert q.orders["a"].ahead == pytest.approx(6.0)


def test_a_drop_no_trade_explains_within_the_window_stays_a_cancel():
    q = QueueModel(window_ms=250)
    q.on_book(book([(100.0, 10.0)], [(101.0, 4.0)], ts=0))
    q.place("a", B, 100.0, 1.0)
    q.on_book(book([(100.0, 20.0)], [(101.0, 4.0)], ts=100))  # 10 behind us
    q.on_book(book([(100.0, 16.0)], [(101.0, 4.0)], ts=200))  # 4 cancelled, pro rata: 2 of them ahead
    assert q.orders["a"].ahead == pytest.approx(8.0)
    q.on_trade(trade(100.0, 3.0, ts=600))  # long after: a new trade, not the drop's
    assert q.orders["a"].ahead == pytest.approx(5.0)


def test_what_joined_the_level_before_the_order_arrived_is_ahead_of_it():
    q = QueueModel()
    q.on_book(book([(100.0, 3.0)], [(101.0, 4.0)], ts=0))
    q.place("a", B, 100.0, 1.0, ts=150)  # seen: 3 at 100; it reaches the exchange at 150
    assert q.orders["a"].ahead == 3.0
    q.on_book(book([(100.0, 10.0)], [(101.0, 4.0)], ts=100))  # taken before it got there: 7 joined first
    assert q.orders["a"].ahead == 10.0
    assert q.on_trade(trade(100.0, 2.0, ts=140)) == [] and q.orders["a"].ahead == 10.0  # before it, not ours
    q.on_book(book([(100.0, 8.0)], [(101.0, 4.0)], ts=200))
    q.on_book(book([(100.0, 12.0)], [(101.0, 4.0)], ts=300))  # after it got there: behind it
    assert q.orders["a"].ahead == pytest.approx(8.0)
    assert q.on_trade(trade(100.0, 8.0, ts=310)) == []
    assert qty(q.on_trade(trade(99.0, 1.0, ts=320))) == 1.0  # through


def test_a_book_that_moves_through_our_price_fills_up_to_the_size_shown_there():
    q = QueueModel()
    q.on_book(book([(100.0, 10.0)], [(101.0, 4.0)]))
    q.place("a", S, 101.0, 3.0)  # an offer behind 4
    fills = q.on_book(book([(101.0, 1.0), (100.5, 2.0)], [(101.5, 4.0)]))  # buyers at and above our offer
    assert qty(fills) == 1.0 and "a" in q.orders  # 1 shown at our price: 2 left
    assert qty(q.on_book(book([(102.0, 5.0)], [(102.5, 1.0)]))) == 2.0 and not q.orders


def test_a_marketable_order_walks_the_displayed_levels_and_rests_the_rest():
    q = QueueModel()
    q.on_book(book([(100.0, 10.0)], [(101.0, 1.0), (101.5, 2.0), (102.0, 5.0)]))
    fills = q.place("m", B, None, 2.5)
    assert [(f.price, f.qty) for f in fills] == [(101.0, 1.0), (101.5, 1.5)] and not q.orders
    fills = q.place("l", B, 101.5, 4.0)  # takes what is at or under 101.5, rests the rest at the front
    assert qty(fills) == 3.0 and q.orders["l"].remaining == 1.0 and q.orders["l"].ahead == 0.0


def test_an_order_beyond_the_displayed_depth_waits_until_the_book_shows_its_level():
    q = QueueModel()
    q.on_book(book([(100.0, 10.0), (99.0, 3.0)], [(101.0, 4.0)]))
    q.place("a", B, 95.0, 1.0)
    assert q.orders["a"].ahead is None
    assert q.on_trade(trade(95.0, 100.0)) == []  # a queue we cannot see: only a trade through fills us
    q.on_book(book([(96.0, 1.0), (95.0, 7.0)], [(97.0, 4.0)]))
    assert q.orders["a"].ahead == 7.0


def test_an_empty_or_one_sided_book_and_an_empty_trade_fill_nothing_and_break_nothing():
    q = QueueModel()
    assert q.place("m", B, None, 1.0) == []  # no book yet: a market order cannot be filled on paper
    q.on_book(book([], []))
    assert q.place("a", B, 100.0, 1.0) == [] and q.orders["a"].ahead is None
    assert q.on_book(book([(100.0, 3.0)], [])) == [] and q.orders["a"].ahead == 3.0
    assert q.on_trade(trade(100.0, 0.0)) == [] and q.orders["a"].ahead == 3.0
    assert q.on_book(book([], [(101.0, 2.0)])) == []  # the bids vanished: beyond anything shown, unchanged
    assert q.orders["a"].remaining == 1.0
