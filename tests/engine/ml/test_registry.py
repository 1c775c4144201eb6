"""The model registry in the profile's SQLite file: what a row holds, versions, references, and loading that
verifies the file: a damaged, missing or mismatched model is a clear error and its strategy does not start."""
from __future__ import annotations

import json
import sqlite3

import pytest

from app.engine.core.store import Store
from app.engine.ml.model_registry import ModelRegistry
from app.engine.ml.serve import ModelError, ModelSource
from app.engine.strategy.runner import StrategyStatus


@pytest.fixture
def store(profile):
    s = Store(profile / "kestrel.db")
    yield s
    s.close()


def test_register_records_everything_and_versions_per_name(store, profile, tiny_model):
    result, artifact = tiny_model
    reg = ModelRegistry(store.conn)
    r1 = reg.register(artifact, profile / "models")
    r2 = reg.register(artifact, profile / "models")
    assert (r1.name, r1.version, r2.version) == ("tiny", 1, 2)
    assert r1.id != r2.id and r1.path.endswith("tiny-v1.onnx") and r2.path.endswith("tiny-v2.onnx")
    assert len(r1.sha256) == 64 and r1.sha256 == result.manifest["onnx"]["sha256"]
    assert r1.spec == result.manifest["spec"] and r1.spec_digest == result.manifest["spec_digest"]
    assert r1.train_start < r1.train_end < result.manifest["test_span"]["start_ts"]
    assert r1.n_train == result.manifest["train_span"]["rows"]
    assert r1.metrics["holdout"]["roc_auc"] == pytest.approx(result.manifest["metrics"]["holdout"]["roc_auc"])
    assert r1.created_ms > 0 and r1.task == "classify" and r1.kind == "gbm" and r1.horizon == 3
    assert [d["feature"] for d in r1.importances] and r1.manifest["drift_reference"]
    # the row is in the profile database itself, next to the store's tables
    row = sqlite3.connect(profile / "kestrel.db").execute("SELECT name, version, sha256 FROM ml_models "
                                                          "ORDER BY id").fetchall()
    assert row == [("tiny", 1, r1.sha256), ("tiny", 2, r2.sha256)]
    assert reg.resolve("tiny").version == 2 and reg.resolve("tiny@1").id == r1.id
    assert reg.resolve(f"#{r2.id}").version == 2 and reg.resolve(str(r1.id)).version == 1
    with pytest.raises(ModelError, match="registered: tiny"):
        reg.resolve("nope")
    with pytest.raises(ModelError, match="no model with id"):
        reg.resolve("#999")


def test_the_store_still_opens_the_profile_after_the_registry_wrote_to_it(store, profile, tiny_model):
    ModelRegistry(store.conn).register(tiny_model[1], profile / "models")
    store.close()
    again = Store(profile / "kestrel.db")  # quick_check, schema version: unchanged by our table
    assert "ml_models" in again.db.table_names()
    again.close()


def test_loading_verifies_the_hash(store, profile, tiny_model):
    rec = ModelRegistry(store.conn).register(tiny_model[1], profile / "models")
    src = ModelSource(conn=store.conn)
    loaded = src.load("tiny")
    assert loaded.sha256 == rec.sha256 and loaded.record_id == rec.id
    data = bytearray(open(rec.path, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(rec.path, "wb").write(bytes(data))
    with pytest.raises(ModelError, match="does not match its recorded sha256"):
        src.load("tiny")


def test_a_missing_file_is_a_clear_error(store, profile, tiny_model):
    rec = ModelRegistry(store.conn).register(tiny_model[1], profile / "models")
    (profile / "models" / "tiny-v1.onnx").unlink()
    with pytest.raises(ModelError, match="is missing"):
        ModelSource(conn=store.conn).load(f"#{rec.id}")


def test_a_model_whose_spec_does_not_match_its_graph_is_refused(store, profile, tiny_model):
    """Registry row and file agree (hash ok), but the recorded feature spec is another model's."""
    rec = ModelRegistry(store.conn).register(tiny_model[1], profile / "models")
    manifest = dict(rec.manifest)
    spec = dict(manifest["spec"])
    spec["features"] = spec["features"][:-2]
    manifest["spec"] = spec
    manifest.pop("spec_digest")
    manifest.pop("drift_reference")
    store.conn.execute("UPDATE ml_models SET manifest = ? WHERE id = ?", (json.dumps(manifest), rec.id))
    with pytest.raises(ModelError, match="do not belong together"):
        ModelSource(conn=store.conn).load("tiny")
    manifest["spec_digest"] = "0" * 64  # a digest that is not this spec's
    store.conn.execute("UPDATE ml_models SET manifest = ? WHERE id = ?", (json.dumps(manifest), rec.id))
    with pytest.raises(ModelError, match="does not match the one it was trained with"):
        ModelSource(conn=store.conn).load("tiny")


def test_a_file_that_is_not_onnx_is_refused(tmp_path, tiny_model):
    import shutil

    folder = tmp_path / "bad"
    shutil.copytree(tiny_model[1], folder)
    (folder / "model.onnx").write_bytes(b"not an onnx graph")
    manifest = json.loads((folder / "manifest.json").read_text())
    import hashlib

    manifest["onnx"]["sha256"] = hashlib.sha256(b"not an onnx graph").hexdigest()  # hash right, content wrong
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="not a usable ONNX model"):
        ModelSource().load(str(folder))


def test_a_strategy_with_a_damaged_model_does_not_start(make_kernel, tiny_model):
    k = make_kernel()
    rec = ModelRegistry(k.store.conn).register(tiny_model[1], k.profile / "models")
    with open(rec.path, "r+b") as fh:
        fh.seek(100)
        fh.write(b"\x00\x01\x02\x03")
    k.strategies.load("ml_signal", "ml1", {"model_ref": "tiny", "symbol": "BTC/USDT"})
    assert k.strategies.start("ml1") is False
    runner = k.strategies.runners["ml1"]
    assert runner.status is StrategyStatus.FAULTED
    assert "ModelError" in runner.reason and "sha256" in runner.reason and "tiny" in runner.reason
    assert not runner.models and runner.orders_sent == 0


def test_a_strategy_naming_an_unknown_model_does_not_start(make_kernel):
    k = make_kernel()
    k.strategies.load("ml_signal", "ml2", {"model_ref": "no-such-model"})
    assert k.strategies.start("ml2") is False
    assert "no model 'no-such-model' in the registry" in k.strategies.runners["ml2"].reason
