"""The deletion audit trail: each step of a "forget me" request appends exactly one entry.

A requester or a regulator reads this trail to learn whether every step happened, so the
entries must be written once (redeliveries and retried notifications add nothing), only for
steps that really finished (a retrain that did not cover every mark of a request is not its
``retrained``), and must never name the user, not even by the salted key.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streams.store import ShardsHolding, Store
from tests.streams.factories import click, ingest

REQUESTED_AT = 1_000


def seed(store: Store) -> None:
    """Alice and Carol (to be deleted, three and one interactions) and Bob (a bystander)."""
    ingest(
        store,
        [
            click("alice", "a", 100, event_id="al-1"),
            click("alice", "b", 200, event_id="al-2"),
            click("alice", "c", 300, event_id="al-3"),
            click("bob", "a", 150, event_id="bob-1"),
            click("carol", "b", 175, event_id="ca-1"),
        ],
    )


def forget(
    store: Store,
    user: str,
    request_id: str,
    shards: tuple[int, ...] | None = None,
    adapter_set: str = "v0001",
) -> None:
    """Record then purge, as the deletion agent does; ``shards`` held the user's samples."""
    store.deletions.record(request_id, user, None, REQUESTED_AT)
    holding = ShardsHolding(adapter_set, shards) if shards is not None else None
    store.deletions.purge(request_id, user, None, REQUESTED_AT, holding)


def straddle(store: Store) -> None:
    """req-1 with mark 1 (its purge, set v0001) and mark 2 (set v0002, published afterwards
    from a snapshot older than the purge, so marked too): a retrain whose snapshot was taken
    between the two (high water 1) covers only the first."""
    forget(store, "alice", "req-1", shards=(1,))
    assert store.dirty.mark([1], "v0002", "req-1") == [2]


def stages(store: Store, request_id: str) -> list[str]:
    return [e.stage for e in store.trail.entries(request_id)]


def audit_text(store: Store) -> str:
    return str(store.audit.query("SELECT * FROM deletion_audit ORDER BY entry_id"))


# -- received ------------------------------------------------------------------------------


def test_record_appends_one_received_entry(store: Store) -> None:
    store.deletions.record("req-1", "alice", None, REQUESTED_AT)
    entries = store.trail.entries("req-1")
    assert [e.stage for e in entries] == ["received"]
    assert entries[0].detail == {"scope": "user", "requested_at": REQUESTED_AT}
    assert entries[0].at > 0


def test_a_redelivered_request_is_not_received_twice(store: Store) -> None:
    store.deletions.record("req-1", "alice", None, REQUESTED_AT)
    store.deletions.record("req-1", "alice", None, REQUESTED_AT)
    assert stages(store, "req-1") == ["received"]
    assert store.audit.query("SELECT count(*) FROM deletion_audit") == [(1,)]


def test_received_names_the_item_count_not_the_items(store: Store) -> None:
    store.deletions.record("req-1", "alice", ["a", "b", "a"], REQUESTED_AT)
    assert store.trail.entries("req-1")[0].detail["scope"] == "2 item(s)"


# -- purged and dirtied --------------------------------------------------------------------


def test_purge_appends_purged_with_rows_per_table_and_the_tombstone(store: Store) -> None:
    seed(store)
    forget(store, "alice", "req-1")
    entries = store.trail.entries("req-1")
    assert [e.stage for e in entries] == ["received", "purged"], "no holding: no dirtied"
    purged = entries[1].detail
    assert purged["rows"]["interactions"] == 3
    assert set(purged["rows"]) == {"interactions", "summaries", "rec_pending"}
    assert purged["tombstone_through"] == REQUESTED_AT  # max(requested_at, newest deleted ts=300)


def test_the_tombstone_reach_covers_events_stamped_after_the_request(store: Store) -> None:
    ingest(store, [click("alice", "a", 5_000, event_id="al-late")])
    forget(store, "alice", "req-1")
    assert store.trail.entries("req-1")[1].detail["tombstone_through"] == 5_000


def test_purge_with_holding_shards_appends_dirtied(store: Store) -> None:
    seed(store)
    forget(store, "alice", "req-1", shards=(3, 1, 3))
    entries = store.trail.entries("req-1")
    assert [e.stage for e in entries] == ["received", "purged", "dirtied"]
    marks = [m.mark_id for m in store.dirty.active()]
    assert entries[2].detail == {"adapter_set": "v0001", "shards": [1, 3], "mark_ids": marks}
    assert len(marks) == 2


def test_an_empty_holding_appends_no_dirtied(store: Store) -> None:
    seed(store)
    forget(store, "alice", "req-1", shards=())
    assert stages(store, "req-1") == ["received", "purged"]


def test_trail_entries_never_name_the_user(store: Store) -> None:
    seed(store)
    forget(store, "alice", "req-1", shards=(0, 2))
    store.dirty.retrained("v0002", store.dirty.high_water(), {"version": "v0002"})
    store.trail.log_served("v0002")
    assert stages(store, "req-1") == ["received", "purged", "dirtied", "retrained", "served"]
    text = audit_text(store)
    assert "alice" not in text
    assert store.user_key("alice") not in text
    assert store.audit.rows_mentioning("alice") == {}, "the raw id is gone from every table"


def test_the_raw_id_stays_in_the_ledger_until_the_purge_only(store: Store) -> None:
    """rows_mentioning is able to see the raw id, so its empty answer after the purge means something."""
    seed(store)
    store.deletions.record("req-1", "alice", None, REQUESTED_AT)
    assert "deletion_requests.user_id" in store.audit.rows_mentioning("alice")
    store.deletions.purge("req-1", "alice", None, REQUESTED_AT)
    assert store.audit.rows_mentioning("alice") == {}


# -- retrained -----------------------------------------------------------------------------


def test_retrained_clears_only_marks_up_to_its_snapshot(store: Store) -> None:
    seed(store)
    forget(store, "alice", "req-1", shards=(1,))
    covered = store.dirty.high_water()
    forget(store, "bob", "req-2", shards=(2,))  # lands while v0002 trains
    done = store.dirty.retrained("v0002", covered, {"version": "v0002"})
    assert done == ["req-1"]
    assert [(m.shard, m.request_id) for m in store.dirty.active()] == [(2, "req-2")]
    assert store.dirty.excluded() == frozenset({2})
    assert stages(store, "req-1")[-1] == "retrained"
    assert "retrained" not in stages(store, "req-2")


def test_retrained_returns_finished_requests_in_mark_order(store: Store) -> None:
    seed(store)
    forget(store, "carol", "req-b", shards=(0,))  # marked first, sorts last by id
    forget(store, "alice", "req-a", shards=(1,))
    done = store.dirty.retrained("v0002", store.dirty.high_water(), {"version": "v0002"})
    assert done == ["req-b", "req-a"]


def test_retrained_entry_carries_the_detail(store: Store) -> None:
    seed(store)
    forget(store, "alice", "req-1", shards=(1,))
    detail = {"version": "v0002", "dirty_high_water": 1, "shards": [{"shard": 1, "retrained": True}]}
    store.dirty.retrained("v0002", 1, detail)
    assert store.trail.entries("req-1")[-1].detail == detail


def test_a_retried_retrained_returns_the_same_requests_and_appends_nothing(store: Store) -> None:
    seed(store)
    forget(store, "alice", "req-1", shards=(1,))
    forget(store, "carol", "req-2", shards=(0,))
    through = store.dirty.high_water()
    first = store.dirty.retrained("v0002", through, {"version": "v0002"})
    before = store.audit.query("SELECT count(*) FROM deletion_audit")
    again = store.dirty.retrained("v0002", through, {"version": "v0002"})
    assert again == first == ["req-1", "req-2"]
    assert store.audit.query("SELECT count(*) FROM deletion_audit") == before
    assert stages(store, "req-1").count("retrained") == 1


def test_a_request_is_retrained_only_when_its_last_mark_is_cleared(store: Store) -> None:
    seed(store)
    straddle(store)
    assert store.dirty.retrained("v0003", 1, {"version": "v0003"}) == []
    assert "retrained" not in stages(store, "req-1")
    assert [m.mark_id for m in store.dirty.active()] == [2]
    assert store.dirty.retrained("v0004", 2, {"version": "v0004"}) == ["req-1"]
    retrained = [e for e in store.trail.entries("req-1") if e.stage == "retrained"]
    assert [e.detail for e in retrained] == [{"version": "v0004"}]
    assert store.dirty.active() == []


def test_a_request_marked_in_one_purge_is_finished_by_one_retrain(store: Store) -> None:
    seed(store)
    forget(store, "alice", "req-1", shards=(0, 1))  # marks 1 and 2, in one transaction
    assert store.dirty.retrained("v0002", 2, {"version": "v0002"}) == ["req-1"]
    assert stages(store, "req-1").count("retrained") == 1


def test_a_later_version_does_not_return_requests_an_earlier_one_finished(store: Store) -> None:
    seed(store)
    forget(store, "alice", "req-1", shards=(1,))
    store.dirty.retrained("v0002", 1, {"version": "v0002"})
    assert store.dirty.retrained("v0003", 1, {"version": "v0003"}) == []
    assert stages(store, "req-1").count("retrained") == 1


def test_cleared_by_names_the_requests_a_version_cleared(store: Store) -> None:
    seed(store)
    forget(store, "alice", "req-1", shards=(1,))
    forget(store, "carol", "req-2", shards=(0,))
    store.dirty.retrained("v0002", 1, {})
    store.dirty.retrained("v0003", 2, {})
    assert store.dirty.cleared_by("v0002") == ["req-1"]
    assert store.dirty.cleared_by("v0003") == ["req-2"]
    assert store.dirty.cleared_by("v0009") == []


def test_cleared_by_skips_a_request_with_an_active_mark_left(store: Store) -> None:
    """Its docstring: the requests whose *last* active mark ``version`` cleared."""
    seed(store)
    straddle(store)
    store.dirty.retrained("v0003", 1, {})  # clears mark 1 only
    assert store.dirty.cleared_by("v0003") == []


# -- served --------------------------------------------------------------------------------


def test_log_served_appends_served_once_per_cleared_request(store: Store) -> None:
    seed(store)
    forget(store, "alice", "req-1", shards=(1,))
    forget(store, "carol", "req-2", shards=(0,))
    store.dirty.retrained("v0002", store.dirty.high_water(), {"version": "v0002"})
    assert store.trail.log_served("v0002") == 2
    assert store.trail.log_served("v0002") == 0, "every answer calls it: the second adds nothing"
    for request_id in ("req-1", "req-2"):
        served = [e for e in store.trail.entries(request_id) if e.stage == "served"]
        assert [e.detail for e in served] == [{"version": "v0002"}]
    assert store.trail.has("req-1", "served")


def test_log_served_adds_nothing_for_a_version_that_cleared_nothing(store: Store) -> None:
    seed(store)
    forget(store, "alice", "req-1", shards=(1,))
    assert store.trail.log_served("v0001") == 0
    store.dirty.retrained("v0002", 1, {})
    assert store.trail.log_served("v0003") == 0
    assert not store.trail.has("req-1", "served")


def test_a_later_version_does_not_serve_a_request_again(store: Store) -> None:
    seed(store)
    forget(store, "alice", "req-1", shards=(1,))
    store.dirty.retrained("v0002", 1, {})
    store.trail.log_served("v0002")
    store.dirty.mark([1], "v0002", "req-1")  # a set published from a snapshot older than the purge
    store.dirty.retrained("v0003", store.dirty.high_water(), {})
    assert store.trail.log_served("v0003") == 0
    assert stages(store, "req-1").count("served") == 1


def test_log_served_waits_for_the_requests_last_mark(store: Store) -> None:
    """Its docstring: ``served`` for requests whose *last* mark the answering set cleared."""
    seed(store)
    straddle(store)
    store.dirty.retrained("v0003", 1, {"version": "v0003"})  # clears mark 1 only: not finished
    assert store.trail.log_served("v0003") == 0
    assert "served" not in stages(store, "req-1")


def test_served_follows_retrained_in_the_trail(store: Store) -> None:
    """The trail must not claim the clean set served before the request's retrain finished."""
    seed(store)
    straddle(store)
    store.dirty.retrained("v0003", 1, {"version": "v0003"})
    store.trail.log_served("v0003")  # v0003 answers while mark 2 is still active
    assert store.dirty.retrained("v0004", 2, {"version": "v0004"}) == ["req-1"]
    store.trail.log_served("v0004")
    assert stages(store, "req-1") == ["received", "purged", "dirtied", "retrained", "served"]
    assert store.trail.entries("req-1")[-1].detail == {"version": "v0004"}


# -- ledger --------------------------------------------------------------------------------


def test_ledger_gives_the_salted_key_and_stage_without_the_raw_id(store: Store) -> None:
    seed(store)
    store.deletions.record("req-1", "alice", ["a", "b"], REQUESTED_AT)
    store.deletions.purge("req-1", "alice", ["a", "b"], REQUESTED_AT)
    ledger = store.trail.ledger("req-1")
    assert ledger is not None
    assert ledger["request_id"] == "req-1"
    assert ledger["user_key"] == store.user_key("alice")
    assert ledger["stage"] == "purged"
    assert ledger["item_ids"] == 2, "a count, not the item ids"
    assert ledger["rows_deleted"] == 2
    assert ledger["requested_at"] == REQUESTED_AT
    assert ledger["purged_at"] is not None and ledger["received_at"] is not None
    assert "user_id" not in ledger
    assert "alice" not in json.dumps(ledger)


def test_ledger_of_a_whole_user_request_has_no_item_count(store: Store) -> None:
    store.deletions.record("req-1", "alice", None, REQUESTED_AT)
    ledger = store.trail.ledger("req-1")
    assert ledger is not None
    assert ledger["item_ids"] is None
    assert ledger["stage"] == "received" and ledger["purged_at"] is None


def test_ledger_of_an_unknown_request_is_none(store: Store) -> None:
    assert store.trail.ledger("nope") is None
    assert store.trail.entries("nope") == []


def test_trail_entries_are_in_commit_order(store: Store) -> None:
    seed(store)
    forget(store, "alice", "req-1", shards=(1,))
    forget(store, "carol", "req-2", shards=(0,))
    ids = [r[0] for r in store.audit.query("SELECT entry_id FROM deletion_audit ORDER BY entry_id")]
    assert ids == list(range(1, 7))
    assert store.audit.query("SELECT request_id, stage FROM deletion_audit ORDER BY entry_id") == [
        ("req-1", "received"),
        ("req-1", "purged"),
        ("req-1", "dirtied"),
        ("req-2", "received"),
        ("req-2", "purged"),
        ("req-2", "dirtied"),
    ]


def test_the_trail_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    store = Store(path)
    try:
        seed(store)
        forget(store, "alice", "req-1", shards=(1,))
    finally:
        store.close()
    reopened = Store(path)
    try:
        assert stages(reopened, "req-1") == ["received", "purged", "dirtied"]
        assert "alice" not in audit_text(reopened)
    finally:
        reopened.close()


def test_an_unknown_stage_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="unknown trail stage"):
        store.trail.append("req-1", "forgotten", {})
    assert store.trail.entries("req-1") == []
