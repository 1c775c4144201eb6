from app.engine.core.bus import MessageBus
from app.engine.core.messages import OrderDenied, Side, TradeTick


def tick(i=0):
    return TradeTick("BTC/USDT", 100.0 + i, 1.0, Side.BUY, str(i), i)


def test_a_failing_handler_is_logged_and_does_not_stop_dispatch(caplog):
    bus = MessageBus()
    seen = []

    def broken(msg):
        raise RuntimeError("plugin bug")

    bus.subscribe(TradeTick, seen.append)
    bus.subscribe(TradeTick, broken)
    bus.subscribe(TradeTick, lambda m: seen.append(("after", m.trade_id)))
    with caplog.at_level("ERROR", logger="kestrel.bus"):
        bus.publish(tick(1))
        bus.publish(tick(2))
    assert seen == [tick(1), ("after", "1"), tick(2), ("after", "2")]
    assert bus.handler_errors == 2
    assert "broken" in caplog.text and "TradeTick" in caplog.text  # the log names the origin


def test_dispatch_is_by_type_including_bases_and_unsubscribe_works():
    bus = MessageBus()
    ticks, everything = [], []
    unsub = bus.subscribe(TradeTick, ticks.append)
    bus.subscribe(object, everything.append)
    denial = OrderDenied("c1", "X", "R", "m")
    bus.publish(tick())
    bus.publish(denial)
    assert ticks == [tick()] and everything == [tick(), denial]
    unsub()
    bus.publish(tick(5))
    assert ticks == [tick()]
    assert bus.published == 3


def test_nested_publish_is_depth_first():
    bus = MessageBus()
    order = []
    bus.subscribe(TradeTick, lambda m: (order.append(("t", m.trade_id)),
                                        bus.publish(OrderDenied(m.trade_id, "", "", "")) if m.trade_id == "1" else None))
    bus.subscribe(OrderDenied, lambda m: order.append(("d", m.client_order_id)))
    bus.subscribe(TradeTick, lambda m: order.append(("t2", m.trade_id)))
    bus.publish(tick(1))
    assert order == [("t", "1"), ("d", "1"), ("t2", "1")]


def test_log_flood_is_rate_limited(caplog):
    bus = MessageBus()
    bus.subscribe(TradeTick, lambda m: 1 / 0)
    with caplog.at_level("ERROR", logger="kestrel.bus"):
        for i in range(3000):
            bus.publish(tick(i))
    assert bus.handler_errors == 3000
    assert len(caplog.records) < 10


def test_a_handler_feeding_itself_is_stopped_by_the_depth_guard(caplog):
    bus = MessageBus()
    calls = []

    def echo(msg):
        calls.append(msg)
        bus.publish(msg)  # reacts to its own message: would recurse forever

    bus.subscribe(TradeTick, echo)
    bus.subscribe(OrderDenied, calls.append)
    with caplog.at_level("ERROR", logger="kestrel.bus"):
        bus.publish(tick(1))
    assert len(calls) == 64 and bus.dropped == 1 and bus.handler_errors == 0
    assert "nested 64 deep" in caplog.text
    bus.publish(OrderDenied("c", "", "", ""))  # the bus still works afterwards
    assert isinstance(calls[-1], OrderDenied)


def test_call_when_idle_runs_after_the_outermost_dispatch_once_or_at_once_when_idle():
    bus = MessageBus()
    order = []

    def flush():
        order.append("flush")

    def outer(m):
        order.append(("outer", m.trade_id))
        bus.call_when_idle(flush)
        bus.publish(OrderDenied("inner", "", "", ""))
        bus.call_when_idle(flush)  # registered twice before it ran: runs once
        order.append("outer done")

    bus.subscribe(TradeTick, outer)
    bus.subscribe(OrderDenied, lambda m: order.append(("inner", m.client_order_id)))
    bus.publish(tick(1))
    assert order == [("outer", "1"), ("inner", "inner"), "outer done", "flush"]
    order.clear()
    bus.call_when_idle(flush)  # nothing is being dispatched: runs now
    assert order == ["flush"]


def test_wants_says_whether_anyone_listens_including_base_class_subscribers():
    bus = MessageBus()
    assert not bus.wants(TradeTick)
    bus.subscribe(object, lambda m: None)
    assert bus.wants(TradeTick)
