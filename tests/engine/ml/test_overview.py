"""What the Models dock lists: live models first, then registered ones (newest first), then the bundled one;
models registered by another process show up."""
from __future__ import annotations

from app.engine.ml.model_registry import ModelRegistry
from app.engine.ml.overview import ModelsOverview


def test_entries_and_registrations_from_another_process(make_kernel, tiny_model):
    k = make_kernel()
    ov = ModelsOverview(k)
    assert [e.key for e in ov.entries()] == ["bundled"]
    other = ModelRegistry.open(k.profile / "kestrel.db")  # e.g. `kestrel ml train` in a terminal
    rec = other.register(tiny_model[1], k.profile / "models")
    other.close()
    v0 = ov.version
    ov.poll(every_s=0.0)
    assert [e.key for e in ov.entries()] == [f"reg:{rec.id}", "bundled"] and ov.version != v0
    k.strategies.load("ml_signal", "ml", {"symbol": "BTC/USDT", "model_ref": "tiny"})
    assert k.strategies.start("ml")
    entries = ov.entries()
    assert entries[0].key == "live:ml" and entries[0].handle is not None and entries[0].used_by == ["ml"]
    k.strategies.stop("ml")
    assert ov.entries()[0].key == f"reg:{rec.id}"
