"""A fired alert reaches its channels from the real kernel (issue 21, item 3): the rule names a channel kept in the
keyring (an in-memory one here), the kernel reads it off the loop, the alert is posted to a real HTTP receiver on
127.0.0.1 through apprise, and the outcome is written beside the firing in the history; a channel the keyring does
not hold is "undelivered", and the window is told."""
from __future__ import annotations

import time

from app.engine.alerts.channels import ChannelStore
from app.engine.core.messages import Alert, SetAlert, Side
from tests.kit.kernel import BTC, advance, kernel_with, last, push_price
from tests.kit.webhook import WebhookReceiver


def step_until(k, cond, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("timed out")
        advance(k, 50)
        time.sleep(0.01)


def test_a_fired_alert_is_posted_to_its_channel_and_the_history_says_delivered(make_kernel, profile,
                                                                               memory_keyring):
    with WebhookReceiver() as hook:
        ChannelStore(profile).add("desk", hook.url("alerts"))
        k = kernel_with(make_kernel)
        level = k.instruments[BTC].round_price(last(k) + 0.6)
        k.bus.publish(SetAlert({"kind": "price_above", "symbol": BTC, "level": level, "channels": ["desk"],
                                "note": "check the book"}, "manual"))
        push_price(k, Side.BUY, lambda p: p >= level)
        step_until(k, lambda: k.alerts.store.history()[0]["delivery"].get("desk", "").startswith("delivered"))
        (got,) = hook.requests
        assert got.answered == "ok" and f"above {level:,.10g}" in str(got.body) and "check the book" in str(got.body)
        assert "desk" in k.notifier.deliverer.channels


def test_a_channel_the_keyring_does_not_hold_is_undelivered_and_the_window_is_told(make_kernel,
                                                                                  memory_keyring):
    k = kernel_with(make_kernel)
    said: list[Alert] = []
    k.bus.subscribe(Alert, said.append)
    level = k.instruments[BTC].round_price(last(k) + 0.6)
    k.bus.publish(SetAlert({"kind": "price_above", "symbol": BTC, "level": level, "channels": ["nope"]}, "manual"))
    push_price(k, Side.BUY, lambda p: p >= level)
    step_until(k, lambda: k.alerts.store.history()[0]["delivery"].get("nope", "").startswith("undelivered"))
    assert "no channel named 'nope'" in k.alerts.store.history()[0]["delivery"]["nope"]
    assert any(a.title == "Alert not delivered to nope" for a in said)
