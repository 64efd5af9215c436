"""Dirty shards: marked with the purge, atomically; active until a retrain that covers them."""

from __future__ import annotations

import pytest

from streams.store import ShardsHolding, Store
from streams.store import dirty_shards as dirty_module
from tests.streams.factories import click, ingest

REQUESTED_AT = 1_000


def seed(store: Store) -> None:
    ingest(store, [click("alice", "a", 100, event_id="al-1"), click("bob", "b", 150, event_id="bob-1")])


def forget(
    store: Store, user: str, shards: tuple[int, ...], request_id: str, adapter_set: str = "v0001"
) -> None:
    store.deletions.record(request_id, user, None, REQUESTED_AT)
    store.deletions.purge(request_id, user, None, REQUESTED_AT, ShardsHolding(adapter_set, shards))


def test_the_purge_marks_the_holding_shards_in_its_transaction(store: Store) -> None:
    seed(store)
    store.deletions.record("req-1", "alice", None, REQUESTED_AT)
    result = store.deletions.purge("req-1", "alice", None, REQUESTED_AT, ShardsHolding("v0001", (2, 0)))
    assert result.shards_dirtied == (0, 2)
    assert store.dirty.excluded() == frozenset({0, 2})
    marks = store.dirty.active()
    assert [(m.shard, m.adapter_set, m.request_id) for m in marks] == [
        (0, "v0001", "req-1"),
        (2, "v0001", "req-1"),
    ]


def test_a_failed_purge_leaves_neither_rows_deleted_nor_marks(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One transaction: a crash while marking rolls the whole purge back (start-up retries it)."""
    seed(store)
    store.deletions.record("req-1", "alice", None, REQUESTED_AT)

    def broken(*args: object, **kwargs: object) -> list[int]:
        raise RuntimeError("disk full")

    monkeypatch.setattr("streams.store.deletions.mark_dirty", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        store.deletions.purge("req-1", "alice", None, REQUESTED_AT, ShardsHolding("v0001", (1,)))
    assert store.audit.query("SELECT count(*) FROM interactions WHERE user_id = 'alice'") == [(1,)]
    assert store.deletions.get("req-1").stage == "received"
    assert store.dirty.excluded() == frozenset()


def test_without_a_served_set_nothing_is_marked(store: Store) -> None:
    seed(store)
    store.deletions.record("req-1", "alice", None, REQUESTED_AT)
    assert store.deletions.purge("req-1", "alice", None, REQUESTED_AT).shards_dirtied == ()
    assert store.dirty.active() == []


def test_a_resumed_purge_does_not_mark_twice(store: Store) -> None:
    seed(store)
    forget(store, "alice", (1,), "req-1")
    with store._db.transaction() as con:  # what a resumed purge would do again
        assert dirty_module.mark_dirty(con, [1], "v0001", "req-1") == []
    assert len(store.dirty.active()) == 1


def test_a_retrain_clears_only_the_marks_its_snapshot_covered(store: Store) -> None:
    """A deletion that lands while the shard retrains keeps the shard excluded afterwards."""
    seed(store)
    forget(store, "alice", (1,), "req-1")
    covered = store.dirty.high_water()  # the retrain's snapshot is exported now
    forget(store, "bob", (1, 3), "req-2")  # ... and this purge lands during its training
    assert store.dirty.clear([1], covered, "v0002") == 1
    assert store.dirty.excluded() == frozenset({1, 3}), "req-2's marks are newer than the retrain"
    assert store.dirty.clear([1, 3], store.dirty.high_water(), "v0003") == 2
    assert store.dirty.excluded() == frozenset()
    assert store.dirty.clear([], 99, "v0004") == 0


def test_marks_keep_no_user_identifier(store: Store) -> None:
    seed(store)
    forget(store, "alice", (0,), "req-1")
    assert store.audit.rows_mentioning("alice") == {}
    assert store.audit.query("SELECT count(*) FROM dirty_shards WHERE request_id = 'req-1'") == [(1,)]
    key = store.user_key("alice")
    columns = store.audit.query(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = 'dirty_shards' ORDER BY column_index"
    )
    assert [c[0] for c in columns] == [
        "mark_id",
        "shard",
        "adapter_set",
        "request_id",
        "marked_at",
        "cleared_by",
        "cleared_at",
    ]
    assert key not in str(store.audit.query("SELECT * FROM dirty_shards"))
