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
from streams.store import ClickRow, ShardsHolding, Store
from streams.training import retrain_set, verify_set

from .factories import CONFIG, export_cut, publish


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


def test_an_item_level_deletion_retrains_the_users_shard_and_verifies(
    store: Store, tmp_path: Path, tiny_model_dir: Path
) -> None:
    """Forgetting some items changes the user's contexts and negatives: their shard retrains."""
    root = tmp_path / "adapters"
    before = publish(store, root, tmp_path, tiny_model_dir)
    held = members(root, before)
    user = next(f"person-{u}" for u in range(14) if store.user_key(f"person-{u}") in held)
    items = [
        row[0]
        for row in store.audit.query("SELECT item_id FROM interactions WHERE user_id = ? LIMIT 2", [user])
    ]
    store.deletions.record("req-items", user, items, 10**8)
    store.deletions.purge(
        "req-items", user, items, 10**8, ShardsHolding(before, (held[store.user_key(user)],))
    )
    result = retrain_set(export_cut(store, root, before, tmp_path / "cut"), root, before, tiny_model_dir)
    # The user's old shard retrains; under the semantic partition, fewer liked items may also
    # move them to another shard, which then retrains too (found by its changed samples).
    old_shard = held[store.user_key(user)]
    new_shard = members(root, result.version).get(store.user_key(user), old_shard)
    assert old_shard in result.retrained and set(result.retrained) <= {old_shard, new_shard}
    rebuilt = verify_set(
        export_cut(store, root, result.version, tmp_path / "verify"), root, result.version, tiny_model_dir
    )
    assert rebuilt.exact, [c for c in rebuilt.checks if not c.matches]


def test_replaying_a_forgotten_users_events_adds_nothing_and_a_second_request_retrains_nothing(
    store: Store, tmp_path: Path, tiny_model_dir: Path
) -> None:
    root = tmp_path / "adapters"
    before = publish(store, root, tmp_path, tiny_model_dir)
    held = members(root, before)
    user = next(f"person-{u}" for u in range(14) if store.user_key(f"person-{u}") in held)
    old_rows = store.audit.query(
        "SELECT event_id, user_id, item_id, event_type, rating, ts, source_partition, source_offset "
        "FROM interactions WHERE user_id = ?",
        [user],
    )
    key = store.user_key(user)
    holding = held.get(key)
    store.deletions.record("req-1", user, None, 10**8)
    store.deletions.purge(
        "req-1", user, None, 10**8, ShardsHolding(before, () if holding is None else (holding,))
    )
    result = retrain_set(export_cut(store, root, before, tmp_path / "cut"), root, before, tiny_model_dir)
    # The old events arrive again (a replay, at new offsets): tombstones keep them out.
    replay = [ClickRow(e, u, i, t, r, ts, p, o + 10**6) for e, u, i, t, r, ts, p, o in old_rows]
    store.ingest.clicks("clicks", replay, {0: 2 * 10**6})
    assert store.audit.interaction_count(user) == 0
    again = retrain_set(
        export_cut(store, root, result.version, tmp_path / "cut2"), root, result.version, tiny_model_dir
    )
    assert again.retrained == (), "the replay added nothing to any training set"
    # The same person asks again (a new request): the current set holds nothing of them.
    assert key not in members(root, again.version)
    store.dirty.retrained(result.version, result.dirty_high_water, {})  # what the worker does
    store.deletions.record("req-2", user, None, 10**8)
    holding_now = members(root, again.version).get(key)
    outcome = store.deletions.purge(
        "req-2",
        user,
        None,
        10**8,
        ShardsHolding(again.version, () if holding_now is None else (holding_now,)),
    )
    assert outcome.shards_dirtied == () and store.dirty.active() == [], "nothing to retrain"
