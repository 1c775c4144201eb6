"""The background warm-up: a low-priority child fills the kernel cache; the app never waits for it.

The real child compiles every kernel (tens of seconds cold), so these tests run stand-in child
commands; the child's own entry point is run in-process with a stand-in ``warmup``.
"""
from __future__ import annotations

import json
import logging
import sys

import pytest

from app.engine.indicators import background
from tests.kit.wait import wait_until


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_fingerprint_depends_on_the_cache_folder(cache, monkeypatch) -> None:
    a = background.fingerprint()
    assert a == background.fingerprint()
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(cache / "other"))
    assert background.fingerprint() != a


def test_cache_is_warm_only_with_a_matching_stamp(cache) -> None:
    assert not background.cache_is_warm()
    (cache / background.STAMP).write_text(json.dumps({"fingerprint": "something else"}))
    assert not background.cache_is_warm()
    (cache / background.STAMP).write_text("not json")
    assert not background.cache_is_warm()
    (cache / background.STAMP).write_text(json.dumps({"fingerprint": background.fingerprint()}))
    assert background.cache_is_warm()


def test_warm_cache_spawns_nothing(cache) -> None:
    (cache / background.STAMP).write_text(json.dumps({"fingerprint": background.fingerprint()}))
    assert background.start(command=[sys.executable, "-c", "raise SystemExit(9)"]) is None


def test_child_success_is_logged(cache, caplog) -> None:
    caplog.set_level(logging.INFO, "kestrel.indicators")
    w = background.start(command=[sys.executable, "-c", "pass"])
    assert w is not None
    wait_until(w.poll, 20, "the warm-up child to finish")
    assert "cached in the background" in w.result
    assert "cached in the background" in caplog.text


def test_child_failure_is_logged_with_its_error(cache, caplog) -> None:
    caplog.set_level(logging.INFO, "kestrel.indicators")
    w = background.start(command=[sys.executable, "-c", "import sys; sys.stderr.write('boom'); sys.exit(3)"])
    wait_until(w.poll, 20, "the warm-up child to finish")
    assert "failed (exit 3)" in w.result and "boom" in w.result
    assert any(r.levelno == logging.WARNING for r in caplog.records)


def test_deadline_and_stop_end_the_child(cache) -> None:
    w = background.start(deadline_s=0.05, command=[sys.executable, "-c", "import time; time.sleep(60)"])
    wait_until(w.poll, 5, "the deadline to end the child")
    assert "deadline" in w.result
    assert w.proc.poll() is not None
    w2 = background.start(command=[sys.executable, "-c", "import time; time.sleep(60)"])
    w2.stop()
    assert w2.proc.poll() is not None and "resumes at the next start" in w2.result


def test_start_never_raises(cache, caplog) -> None:
    assert background.start(command=[str(cache / "no-such-program")]) is None
    assert "could not start" in caplog.text


def test_child_entry_point_writes_the_stamp(cache, monkeypatch, capsys) -> None:
    import app.engine.indicators as ta

    monkeypatch.setattr(background, "_lower_priority", lambda: None)
    monkeypatch.setattr(ta, "warmup", lambda: {"sma": 0.01, "ema": 0.01})
    assert background.main() == 0
    assert background.cache_is_warm()
    assert "warmed 2 indicators" in capsys.readouterr().out


def test_app_wiring_is_off_offscreen_and_polls_when_on(qapp, qtbot, monkeypatch) -> None:
    """``schedule_indicator_warmup``: nothing in tests (offscreen) unless asked; when asked it
    polls the child from a timer and stops polling when the child is done."""
    from app import bootstrap

    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    monkeypatch.delenv("KESTREL_INDICATOR_WARMUP", raising=False)
    assert bootstrap.schedule_indicator_warmup(qapp) is None

    class Fake:
        polls = 0

        def poll(self) -> bool:
            Fake.polls += 1
            return Fake.polls >= 2

        def stop(self) -> None:
            pass

    monkeypatch.setenv("KESTREL_INDICATOR_WARMUP", "1")
    monkeypatch.setattr(background, "start", lambda: Fake())
    timer = bootstrap.schedule_indicator_warmup(qapp, delay_ms=0)
    assert timer is not None
    qtbot.waitUntil(lambda: Fake.polls >= 2 and not timer.isActive(), timeout=5000)
