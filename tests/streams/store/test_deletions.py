"""Deletion: the ledger, the purge, tombstones against replays, and partial (per-item) deletion."""

from __future__ import annotations

from typing import Any

import duckdb
import pytest

from streams.store import ClickRow, DeletionRecord, Store
from tests.streams.factories import add_items, click, ingest

REQUESTED_AT = 1_000


def seed(store: Store) -> tuple[list[ClickRow], list[ClickRow]]:
    """Alice (to be deleted) and Bob (a bystander), both before REQUESTED_AT."""
    alice = [
        click("alice", "a", 100, event_id="al-1"),
        click("alice", "b", 200, event_type="rating", rating=5.0, event_id="al-2"),
        click("alice", "c", 300, event_type="like", event_id="al-3"),
    ]
    bob = [click("bob", "a", 150, event_id="bob-1"), click("bob", "c", 250, event_id="bob-2")]
    ingest(store, alice + bob)
    return alice, bob


def forget(store: Store, user: str, items: list[str] | None = None, request_id: str = "req-1") -> int:
    """Record then purge, as the deletion agent does; returns deleted_through."""
    store.deletions.record(request_id, user, items, REQUESTED_AT)
    return store.deletions.purge(request_id, user, items, REQUESTED_AT).deleted_through


# -- ledger --------------------------------------------------------------------------------


def test_record_deletion_is_idempotent(store: Store) -> None:
    """The same request twice is one ledger row in stage 'received'."""
    first = store.deletions.record("req-1", "alice", None, REQUESTED_AT)
    second = store.deletions.record("req-1", "alice", None, REQUESTED_AT)
    assert first == second == DeletionRecord("req-1", "received", None)
    assert store.audit.query("SELECT count(*) FROM deletion_requests") == [(1,)]


def test_unfinished_deletions_lists_recorded_but_not_purged(store: Store) -> None:
    """A request recorded but not purged (a crash in between) is listed for resumption."""
    seed(store)
    store.deletions.record("req-1", "alice", None, REQUESTED_AT)
    store.deletions.record("req-2", "bob", ["a"], REQUESTED_AT + 1)
    # Ordered by received_at, which can tie within a millisecond: compare sorted.
    assert sorted(store.deletions.unfinished()) == [
        ("req-1", "alice", None, REQUESTED_AT),
        ("req-2", "bob", ["a"], REQUESTED_AT + 1),
    ]


def test_purged_request_is_no_longer_unfinished(store: Store) -> None:
    """After the purge commits, the request leaves the resume list."""
    seed(store)
    store.deletions.record("req-1", "alice", None, REQUESTED_AT)
    store.deletions.record("req-2", "bob", ["a"], REQUESTED_AT + 1)
    store.deletions.purge("req-1", "alice", None, REQUESTED_AT)
    assert store.deletions.unfinished() == [("req-2", "bob", ["a"], REQUESTED_AT + 1)]


def test_redelivered_request_after_purge_does_not_reopen_it(store: Store) -> None:
    """Recording a purged request again keeps it purged and does not store the user id again."""
    seed(store)
    forget(store, "alice")
    record = store.deletions.record("req-1", "alice", None, REQUESTED_AT)
    assert record.stage == "purged"
    assert store.deletions.unfinished() == []
    assert store.audit.rows_mentioning("alice") == {}


def test_deletion_of_unknown_request_raises(store: Store) -> None:
    """Asking for a request that was never recorded is a KeyError naming it."""
    with pytest.raises(KeyError, match="nope"):
        store.deletions.get("nope")


# -- full purge --------------------------------------------------------------------------------


class FailingConnection:
    """Wraps the store's DuckDB connection and fails the first statement containing ``needle``."""

    def __init__(self, con: duckdb.DuckDBPyConnection, needle: str) -> None:
        self._con = con
        self._needle = needle

    def execute(self, sql: str, *args: Any) -> duckdb.DuckDBPyConnection:
        if self._needle in sql:
            raise duckdb.IOException(f"injected failure at {self._needle!r}")
        return self._con.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def test_failed_purge_changes_nothing(store: Store) -> None:
    """A purge that fails mid-way rolls back: data and ledger are as before, and it can resume."""
    seed(store)
    store.deletions.record("req-1", "alice", None, REQUESTED_AT)
    before = store.audit.table_counts()
    real = store._db.con
    store._db.con = FailingConnection(real, "INSERT INTO tombstones")  # type: ignore[assignment]
    try:
        with pytest.raises(duckdb.Error):
            store.deletions.purge("req-1", "alice", None, REQUESTED_AT)
    finally:
        store._db.con = real
    assert store.audit.table_counts() == before
    assert store.audit.interaction_count("alice") == 3
    assert store.deletions.get("req-1").stage == "received"
    assert [r[0] for r in store.deletions.unfinished()] == ["req-1"]
    # No transaction was left open: the next write works.
    assert ingest(store, [click("bob", "z", 5, event_id="bob-after")]).inserted == 1


def test_purge_deletes_all_of_the_users_data_and_nothing_else(store: Store) -> None:
    """Alice's interactions and pending mark are gone; Bob is untouched; the ledger is closed."""
    _, bob = seed(store)
    assert store.pending.count() == 2
    store.deletions.record("req-1", "alice", None, REQUESTED_AT)
    result = store.deletions.purge("req-1", "alice", None, REQUESTED_AT)
    assert result.rows_deleted == 3
    assert result.request_id == "req-1"
    assert store.audit.interaction_count("alice") == 0
    assert store.retrieval.has_interactions("alice") is False
    assert store.audit.interaction_count("bob") == len(bob)
    assert [p.user_id for p in store.pending.due(10)] == ["bob"]
    assert store.deletions.get("req-1") == DeletionRecord("req-1", "purged", 3)
    assert store.audit.query("SELECT user_id, purged_at IS NOT NULL FROM deletion_requests") == [(None, True)]


def test_after_purge_no_table_mentions_the_user_id(store: Store) -> None:
    """A deletion audit finds the raw id nowhere (ledger and tombstones hold only a hash)."""
    seed(store)
    store.deletions.record("req-1", "alice", None, REQUESTED_AT)
    assert "deletion_requests.user_id" in store.audit.rows_mentioning("alice")
    assert "interactions.user_id" in store.audit.rows_mentioning("alice")
    store.deletions.purge("req-1", "alice", None, REQUESTED_AT)
    assert store.audit.rows_mentioning("alice") == {}
    assert store.audit.rows_mentioning("bob") != {}


def test_user_key_is_salted_and_not_the_id(store: Store) -> None:
    """The tombstone key is a hash that differs between stores (per-store salt)."""
    other = Store(":memory:")
    try:
        assert store.user_key("alice") == store.user_key("alice")
        assert store.user_key("alice") != store.user_key("bob")
        assert store.user_key("alice") != other.user_key("alice")
        assert "alice" not in store.user_key("alice")
    finally:
        other.close()


def test_tombstone_blocks_replay_of_the_same_events(store: Store) -> None:
    """Replaying the deleted events brings nothing back; they are counted as blocked."""
    alice, _ = seed(store)
    forget(store, "alice")
    result = ingest(store, alice)
    assert (result.inserted, result.blocked, result.duplicates) == (0, 3, 0)
    assert store.audit.interaction_count("alice") == 0
    assert store.audit.rows_mentioning("alice") == {}


def test_tombstone_blocks_any_old_event_of_the_user(store: Store) -> None:
    """A *new* event id of the user with ts <= requested_at is blocked too (boundary included)."""
    seed(store)
    forget(store, "alice")
    result = ingest(
        store,
        [click("alice", "z", REQUESTED_AT, event_id="al-x"), click("alice", "y", 5, event_id="al-y")],
    )
    assert result.blocked == 2
    assert store.audit.interaction_count("alice") == 0


def test_events_after_the_deletion_are_new_data(store: Store) -> None:
    """An event with ts > requested_at (and > every deleted ts) is stored and marks the user."""
    seed(store)
    forget(store, "alice")
    result = ingest(store, [click("alice", "d", REQUESTED_AT + 1, event_id="al-new")])
    assert (result.inserted, result.blocked) == (1, 0)
    assert store.audit.interaction_count("alice") == 1
    assert {p.user_id: p.trigger_event_id for p in store.pending.due(10)}["alice"] == "al-new"


def test_tombstone_does_not_block_other_users(store: Store) -> None:
    """Bob's old events are unaffected by Alice's tombstone."""
    seed(store)
    forget(store, "alice")
    result = ingest(store, [click("bob", "z", 10, event_id="bob-old")])
    assert (result.inserted, result.blocked) == (1, 0)


def test_deleted_through_covers_events_stamped_after_requested_at(store: Store) -> None:
    """If deleted events had ts > requested_at, the tombstone reaches the max deleted ts."""
    late = [
        click("alice", "a", REQUESTED_AT + 500, event_id="late-1"),
        click("alice", "b", REQUESTED_AT + 900, event_id="late-2"),
    ]
    ingest(store, late)
    through = forget(store, "alice")
    assert through == REQUESTED_AT + 900
    replay = ingest(store, late + [click("alice", "c", REQUESTED_AT + 900, event_id="late-3")])
    assert (replay.inserted, replay.blocked) == (0, 3)
    fresh = ingest(store, [click("alice", "c", REQUESTED_AT + 901, event_id="late-4")])
    assert fresh.inserted == 1


def test_deleted_through_is_requested_at_when_all_events_are_older(store: Store) -> None:
    """The tombstone never ends before requested_at."""
    seed(store)
    assert forget(store, "alice") == REQUESTED_AT


def test_purge_of_user_without_data_still_leaves_a_tombstone(store: Store) -> None:
    """Deleting before the user's events arrive still blocks them when they arrive."""
    through = forget(store, "ghost")
    assert through == REQUESTED_AT
    assert store.deletions.get("req-1").rows_deleted == 0
    assert ingest(store, [click("ghost", "a", 10)]).blocked == 1


# -- partial purge (item_ids) --------------------------------------------------------------


def test_partial_purge_deletes_only_those_items(store: Store) -> None:
    """Only interactions with the listed items go; the rest of the user's history stays."""
    seed(store)
    store.deletions.record("req-1", "alice", ["a", "c"], REQUESTED_AT)
    result = store.deletions.purge("req-1", "alice", ["a", "c"], REQUESTED_AT)
    assert result.rows_deleted == 2
    remaining = store.audit.query("SELECT item_id FROM interactions WHERE user_id = 'alice'")
    assert remaining == [("b",)]
    assert store.audit.interaction_count("bob") == 2


def test_partial_purge_blocks_only_those_items_on_replay(store: Store) -> None:
    """Old events of a deleted item are blocked; old events of other items are not."""
    alice, _ = seed(store)
    forget(store, "alice", ["a"])
    replay = ingest(store, alice + [click("alice", "new-item", 50, event_id="al-old-other")])
    # al-1 (item a) is blocked; al-2 and al-3 were kept (duplicates); the other old event is new.
    assert (replay.blocked, replay.duplicates, replay.inserted) == (1, 2, 1)
    assert store.audit.query(
        "SELECT count(*) FROM interactions WHERE user_id = 'alice' AND item_id = 'a'"
    ) == [(0,)]


def test_partial_purge_marks_user_for_reranking(store: Store) -> None:
    """Remaining history changed, so a 'deletion:' pending mark replaces the old trigger."""
    seed(store)
    forget(store, "alice", ["a"], request_id="req-7")
    marks = {p.user_id: p.trigger_event_id for p in store.pending.due(10)}
    assert marks["alice"] == "deletion:req-7"
    assert marks["bob"] == "bob-2"


def test_partial_purge_removing_everything_leaves_no_deletion_mark(store: Store) -> None:
    """No interactions remain, so there is nothing to re-rank."""
    add_items(store, "a")
    ingest(store, [click("carol", "a", 10, event_id="c-1")])
    assert store.pending.clear("carol", "c-1")
    forget(store, "carol", ["a"])
    assert store.pending.count() == 0
    assert store.retrieval.has_interactions("carol") is False


def test_partial_purge_keeps_user_id_out_of_the_ledger(store: Store) -> None:
    """The ledger row forgets the raw user id after any purge, partial or not."""
    seed(store)
    forget(store, "alice", ["a"])
    assert store.audit.query("SELECT user_id, stage FROM deletion_requests") == [(None, "purged")]
    assert "deletion_requests.user_id" not in store.audit.rows_mentioning("alice")


def test_partial_deleted_through_uses_only_the_deleted_items(store: Store) -> None:
    """A late event of a *kept* item does not push the tombstone of the deleted item."""
    ingest(
        store,
        [
            click("alice", "a", REQUESTED_AT + 10, event_id="x-1"),
            click("alice", "b", REQUESTED_AT + 999, event_id="x-2"),
        ],
    )
    assert forget(store, "alice", ["a"]) == REQUESTED_AT + 10
    later = ingest(store, [click("alice", "a", REQUESTED_AT + 11, event_id="x-3")])
    assert later.inserted == 1
