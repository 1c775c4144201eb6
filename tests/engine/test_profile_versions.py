"""Ground for the profile migration of issue 19 (step 3 of docs/design/issue19-instrument-ids-and-paper.md): a
whole backup before anything is rewritten, and files a newer Kestrel wrote refused as such, never rewritten."""
from __future__ import annotations

import json
import shutil
import sqlite3

import pytest

from tests.kit.data import DATA


@pytest.fixture
def v1(tmp_path):
    profile = tmp_path / "v1"
    shutil.copytree(DATA / "profiles" / "v1", profile)
    return profile


def dump(db) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def test_a_backup_holds_the_database_settings_and_venues_as_they_were_with_a_manifest(v1):
    from app.engine.core.profile_backup import MANIFEST, backup_profile, check_backup

    folder = backup_profile(v1, "pre-v2")
    assert folder.parent == v1 / "backups" and folder.name.startswith("pre-v2-")
    assert dump(folder / "kestrel.db") == dump(v1 / "kestrel.db")  # every row, via SQLite's backup API
    for rel in ("settings.json", "venues/binance.json", "venues/binance.instruments.json"):
        assert (folder / rel).read_bytes() == (v1 / rel).read_bytes()
    manifest = json.loads((folder / MANIFEST).read_text())
    assert sorted(manifest["files"]) == ["kestrel.db", "settings.json", "venues/binance.instruments.json",
                                         "venues/binance.json"]
    assert check_backup(folder) == []
    (folder / "settings.json").write_text("{}")  # a backup changed afterwards is not whole any more
    assert check_backup(folder) == ["settings.json is not the file that was backed up (sha256 differs)"]
    assert backup_profile(v1, "pre-v2") != folder  # a second one the same second gets its own folder


def test_a_backup_that_cannot_be_made_is_removed_and_said(v1, monkeypatch):
    import app.engine.core.profile_backup as pb

    def full(*_a, **_k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(pb.shutil, "copyfile", full)
    with pytest.raises(pb.BackupError, match="could not be backed up.*No space left.*nothing was changed"):
        pb.backup_profile(v1)
    assert list((v1 / "backups").iterdir()) == []  # no half backup left to be mistaken for a whole one


def test_settings_written_by_a_newer_kestrel_are_refused_and_left_untouched(v1):
    from app.config import SETTINGS_VERSION, ConfigError, load_settings, save_ui_settings

    assert load_settings(v1).version == SETTINGS_VERSION  # a file from before the field: version 1
    raw = json.loads((v1 / "settings.json").read_text())
    (v1 / "settings.json").write_text(json.dumps({**raw, "version": SETTINGS_VERSION + 1, "new_thing": 1}))
    before = (v1 / "settings.json").read_bytes()
    with pytest.raises(ConfigError, match="written by a newer Kestrel .settings version 2"):
        load_settings(v1)
    with pytest.raises(ConfigError, match="newer Kestrel"):
        save_ui_settings(v1, chart_timeframe_s=300)
    assert (v1 / "settings.json").read_bytes() == before


def test_a_bar_index_written_by_a_newer_kestrel_is_refused_as_newer_not_damaged(v1):
    from app.engine.data.bar_chunks import BarStoreError
    from app.engine.data.bar_store import BarStore

    index = v1 / "bars" / "index.json"
    raw = json.loads(index.read_text())
    index.write_text(json.dumps({**raw, "version": raw["version"] + 1}))
    before = index.read_bytes()
    with pytest.raises(BarStoreError, match="written by a newer Kestrel.*Upgrade Kestrel") as err:
        BarStore(v1).series()
    assert "damaged" not in str(err.value)
    with pytest.raises(BarStoreError):
        BarStore(v1).append_bar("binance", "BTC/USDT", 60_000, 1_704_400_000_000, 1, 1, 1, 1, 1)
    assert index.read_bytes() == before
