"""Retraining after a deletion: only the shards whose data changed, and the result is exact.

The production path (store, snapshot export at the set's cut, trainer, writer) with the tiny
random Llama. "Exact" is checked the strongest way available: ``verify_set`` rebuilds the
retrained version from scratch and every file must match byte for byte.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from serving.adapters import read_current, read_manifest
from streams.store import ClickRow, DataCut, ShardsHolding, Store
from streams.training import read_data_cut, retrain_set, train_from_snapshot, verify_set

from .factories import CONFIG


def publish(store: Store, root: Path, tmp_path: Path, model_dir: Path) -> str:
    store.snapshots.export(tmp_path / "train-snap")
    return train_from_snapshot(tmp_path / "train-snap", root, model_dir, CONFIG)


def export_cut(store: Store, root: Path, version: str, directory: Path) -> Path:
    watermark, versions = read_data_cut(root, version)
    store.snapshots.export(directory, DataCut(watermark, versions))
    return directory


def members(root: Path, version: str) -> dict[str, int]:
    rows = pq.read_table(root / version / "members.parquet").to_pylist()
    return {str(r["user_key"]): int(r["shard"]) for r in rows}


def forget_a_member(store: Store, root: Path, version: str) -> tuple[str, int]:
    """Purge the first user with samples in ``version``, marking their shard; (key, shard)."""
    held = members(root, version)
    user = next(f"person-{u}" for u in range(14) if store.user_key(f"person-{u}") in held)
    shard = held[store.user_key(user)]
    store.deletions.record("req-1", user, None, 10**8)
    store.deletions.purge("req-1", user, None, 10**8, ShardsHolding(version, (shard,)))
    return store.user_key(user), shard


def test_forgetting_a_user_retrains_only_their_shard_and_the_new_set_verifies(
    store: Store, tmp_path: Path, tiny_model_dir: Path
) -> None:
    root = tmp_path / "adapters"
    before = publish(store, root, tmp_path, tiny_model_dir)
    key, victim = forget_a_member(store, root, before)
    result = retrain_set(export_cut(store, root, before, tmp_path / "cut"), root, before, tiny_model_dir)

    assert result.previous == before and read_current(root) == result.version != before
    assert result.retrained == (victim,)
    old, new = read_manifest(root, before), read_manifest(root, result.version)
    for k in range(CONFIG.shards):
        same = old["shards"][k]["sha256"] == new["shards"][k]["sha256"]
        assert same == (k != victim), f"shard {k}"
        if k != victim:  # kept by hard link, not rewritten
            assert (root / before / f"shard-{k}.safetensors").stat().st_ino == (
                root / result.version / f"shard-{k}.safetensors"
            ).stat().st_ino
    assert new["retrain"] == {"of": before, "reason": "deletion", "shards": [victim]}
    assert new["watermark"] == old["watermark"], "a deletion retrain keeps the set's cut"
    assert new["dirty_high_water"] == result.dirty_high_water == store.dirty.high_water() >= 1
    assert key not in members(root, result.version)
    assert "req-1" in (root / result.version / "data_cut.json").read_text()
    assert not (tmp_path / "cut").exists(), "the snapshot is personal data: deleted"

    rebuilt = verify_set(
        export_cut(store, root, result.version, tmp_path / "verify"), root, result.version, tiny_model_dir
    )
    assert rebuilt.exact, [c for c in rebuilt.checks if not c.matches]


def test_a_retrain_without_changed_data_trains_nothing_and_keeps_every_file(
    store: Store, tmp_path: Path, tiny_model_dir: Path
) -> None:
    root = tmp_path / "adapters"
    before = publish(store, root, tmp_path, tiny_model_dir)
    result = retrain_set(export_cut(store, root, before, tmp_path / "cut"), root, before, tiny_model_dir)
    assert result.retrained == ()
    assert all(s.old_sha256 == s.new_sha256 and s.train_seconds == 0.0 for s in result.shards)
    assert (root / before / "validation.npz").read_bytes() == (
        root / result.version / "validation.npz"
    ).read_bytes()


def test_retrain_refuses_a_snapshot_outside_the_sets_cut(
    store: Store, tmp_path: Path, tiny_model_dir: Path
) -> None:
    root = tmp_path / "adapters"
    before = publish(store, root, tmp_path, tiny_model_dir)
    forget_a_member(store, root, before)
    store.ingest.clicks(
        "clicks", [ClickRow("x", "person-13", "3", "click", None, 10**8, 0, 10**6)], {0: 10**6 + 1}
    )
    store.snapshots.export(tmp_path / "now")  # the current watermark, past the set's cut
    with pytest.raises(ValueError, match="watermark"):
        retrain_set(tmp_path / "now", root, before, tiny_model_dir)
    assert read_current(root) == before, "nothing is published from a refused snapshot"
