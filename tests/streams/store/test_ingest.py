"""Store ingestion, catalog upserts, offsets and history (DuckDB ``:memory:``)."""

from __future__ import annotations

import duckdb
import pytest

import streams.store.ingest as ingest_module
from streams.store import IngestResult, Store
from tests.streams.factories import add_items, click, ingest, item


def stored_event_ids(store: Store) -> list[str]:
    return [str(r[0]) for r in store.audit.query("SELECT event_id FROM interactions ORDER BY event_id")]


def pending(store: Store) -> dict[str, str]:
    return {p.user_id: p.trigger_event_id for p in store.pending.due(100)}


# -- ingest_clicks ----------------------------------------------------------------------------


def test_ingest_stores_rows_and_offsets(store: Store) -> None:
    """Rows land in interactions with all fields; offsets are saved in the same call."""
    rows = [
        click("u1", "a", 1000, event_type="rating", rating=4.5, partition=0, offset=10),
        click("u2", "b", 2000, partition=1, offset=3),
    ]
    result = store.ingest.clicks("clicks", rows, {0: 11, 1: 4, 2: 8})
    assert result == IngestResult(received=2, inserted=2, blocked=0, duplicates=0)
    assert store.ingest.committed_offsets("clicks") == {0: 11, 1: 4, 2: 8}
    assert store.ingest.committed_offsets("items") == {}
    stored = store.audit.query(
        "SELECT event_id, user_id, item_id, event_type, rating, ts, source_partition, source_offset "
        "FROM interactions ORDER BY ts"
    )
    assert stored == [
        ("u1-a-rating-1000", "u1", "a", "rating", 4.5, 1000, 0, 10),
        ("u2-b-click-2000", "u2", "b", "click", None, 2000, 1, 3),
    ]
    assert store.audit.interaction_count() == 2
    assert store.audit.interaction_count("u1") == 1


def test_a_failed_click_batch_leaves_no_temp_table_and_nothing_stored(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch's temp table is dropped by the script; when the script fails (here a
    statement that cannot run, as a full disk would), it must still go, with nothing stored."""
    monkeypatch.setattr(ingest_module, "store_clicks_sql", lambda *_: "SELECT * FROM no_such_table;")
    with pytest.raises(duckdb.CatalogException):
        store.ingest.clicks("clicks", [click("u1", "a", 1000)], {0: 1})
    temp = store.audit.query("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'click_batch'")
    assert temp == [(0,)]
    assert stored_event_ids(store) == []
    assert store.ingest.committed_offsets("clicks") == {}


def test_offsets_only_batch_advances_offsets(store: Store) -> None:
    """A batch whose records were all rejected still commits its offsets."""
    result = store.ingest.clicks("clicks", [], {0: 42})
    assert result == IngestResult(received=0, inserted=0, blocked=0, duplicates=0)
    assert store.ingest.committed_offsets("clicks") == {0: 42}


def test_offsets_are_replaced_not_accumulated(store: Store) -> None:
    """A later batch moves the stored next offset forward for its partitions only."""
    store.ingest.clicks("clicks", [], {0: 5, 1: 7})
    store.ingest.clicks("clicks", [], {0: 9})
    assert store.ingest.committed_offsets("clicks") == {0: 9, 1: 7}


def test_reingesting_same_event_ids_stores_nothing_new(store: Store) -> None:
    """Redelivery after a crash: stored event ids are counted as duplicates, not inserted."""
    rows = [click("u1", "a", 1), click("u1", "b", 2), click("u2", "a", 3)]
    ingest(store, rows)
    again = ingest(store, rows + [click("u3", "c", 4)])
    assert again == IngestResult(received=4, inserted=1, blocked=0, duplicates=3)
    assert store.audit.interaction_count() == 4
    assert store.audit.distinct_event_ids() == 4


def test_duplicates_within_a_batch_are_stored_once(store: Store) -> None:
    """The same event id twice in one batch is stored once and counted once as duplicate."""
    first = click("u1", "a", 1, offset=0)
    copy = click("u1", "a", 1, offset=1)  # same event id, redelivered by the producer
    result = ingest(store, [first, copy, click("u1", "b", 2, offset=2)])
    assert result == IngestResult(received=3, inserted=2, blocked=0, duplicates=1)
    assert store.audit.interaction_count() == 2
    # The first copy wins.
    assert store.audit.query("SELECT source_offset FROM interactions WHERE item_id = 'a'") == [(0,)]


def test_pending_has_one_row_per_user_pointing_at_their_last_event(store: Store) -> None:
    """Latest wins: a burst of clicks from one user is one pending mark, at the batch's last event."""
    rows = [
        click("u1", "a", 5, event_id="e1"),
        click("u2", "a", 6, event_id="e2"),
        click("u1", "b", 7, event_id="e3"),
        click("u1", "c", 8, event_id="e4"),
        click("u2", "b", 9, event_id="e5"),
    ]
    ingest(store, rows)
    assert store.pending.count() == 2
    assert pending(store) == {"u1": "e4", "u2": "e5"}


def test_later_batch_replaces_pending_trigger(store: Store) -> None:
    """A new batch points the user's mark at the new event."""
    ingest(store, [click("u1", "a", 1, event_id="old")])
    ingest(store, [click("u1", "b", 2, event_id="new")])
    assert pending(store) == {"u1": "new"}


def test_duplicate_only_batch_does_not_change_pending(store: Store) -> None:
    """Redelivered events do not re-mark a user who was already answered."""
    ingest(store, [click("u1", "a", 1, event_id="e1")])
    assert store.pending.clear("u1", "e1")
    ingest(store, [click("u1", "a", 1, event_id="e1")])
    assert store.pending.count() == 0


def test_seq_follows_batch_order_across_batches_with_duplicates(store: Store) -> None:
    """seq is the ingestion order summaries follow: batch order, growing across batches, and
    a batch that mixes a redelivered event with new ones marks only the new ones' user."""
    ingest(store, [click("u1", "a", 9, event_id="e1"), click("u1", "b", 1, event_id="e2")])
    assert store.pending.clear("u1", "e2")
    ingest(
        store,
        [
            click("u2", "c", 5, event_id="e3"),
            click("u1", "a", 9, event_id="e1"),  # redelivered
            click("u2", "d", 2, event_id="e4"),
        ],
    )
    by_seq = [str(r[0]) for r in store.audit.query("SELECT event_id FROM interactions ORDER BY seq")]
    assert by_seq == ["e1", "e2", "e3", "e4"]
    assert pending(store) == {"u2": "e4"}


def test_clear_pending_only_clears_the_matching_trigger(store: Store) -> None:
    """A stale answer (older trigger) does not clear a user who clicked again meanwhile."""
    ingest(store, [click("u1", "a", 1, event_id="old")])
    ingest(store, [click("u1", "b", 2, event_id="new")])
    assert store.pending.clear("u1", "old") is False
    assert pending(store) == {"u1": "new"}
    assert store.pending.clear("u1", "new") is True
    assert pending(store) == {}
    assert store.pending.clear("u1", "new") is False


def test_pending_recommendations_respects_limit(store: Store) -> None:
    """The recommend loop takes at most ``limit`` users."""
    ingest(store, [click(f"u{i}", "a", i) for i in range(5)])
    assert len(store.pending.due(3)) == 3
    assert store.pending.count() == 5


# -- upsert_items ----------------------------------------------------------------------------------


def catalog(store: Store) -> dict[str, tuple[str, list[str]]]:
    rows = store.audit.query("SELECT item_id, title, categories FROM items ORDER BY item_id")
    return {str(i): (str(t), list(c)) for i, t, c in rows}


def test_upsert_items_last_value_per_item_wins(store: Store) -> None:
    """Within one batch, the last row for an item is the one stored."""
    count = store.ingest.items(
        "items",
        [item("m1", "First", ["A"]), item("m2", "Other"), item("m1", "Second", ["B", "C"])],
        {0: 3},
    )
    assert count == 2
    assert catalog(store) == {"m1": ("Second", ["B", "C"]), "m2": ("Other", [])}
    assert store.ingest.committed_offsets("items") == {0: 3}


def test_upsert_replaces_title_and_categories(store: Store) -> None:
    """A later batch replaces the whole entry (categories are not merged)."""
    store.ingest.items("items", [item("m1", "Old", ["Drama", "War"])], {0: 1})
    store.ingest.items("items", [item("m1", "New", ["Comedy"])], {0: 2})
    assert catalog(store) == {"m1": ("New", ["Comedy"])}
    assert store.ingest.committed_offsets("items") == {0: 2}


def test_item_attributes_are_stored_as_json(store: Store) -> None:
    """Attributes survive as a JSON object."""
    row = item("m1")
    store.ingest.items("items", [type(row)("m1", "T", "desc", ("A",), {"year": 1995})], {})
    assert store.audit.query("SELECT description, attributes FROM items") == [("desc", '{"year": 1995}')]


# -- stale_partitions / adopt_topic (topic incarnations) ---------------------------------------


def adopt(store: Store, topic: str, topic_id: str | None, ends: dict[int, int]) -> list[int]:
    """What the worker does at start: find the stale partitions, then adopt the topic."""
    stale = store.ingest.stale_partitions(topic, topic_id, ends)
    store.ingest.adopt_topic(topic, topic_id, stale)
    return stale


def test_adopt_topic_without_ids_resets_only_offsets_beyond_the_end(store: Store) -> None:
    """No topic id: a partition whose end is below our offset is reset; equal is not stale."""
    store.ingest.clicks("clicks", [], {0: 10, 1: 5, 2: 3})
    store.ingest.items("items", [], {0: 50})
    stale = adopt(store, "clicks", None, {0: 10, 1: 2, 2: 100})
    assert stale == [1]
    assert store.ingest.committed_offsets("clicks") == {0: 10, 2: 3}
    assert store.ingest.committed_offsets("items") == {0: 50}
    assert store.ingest.topic_incarnation("clicks") is None


def test_adopt_topic_noop_when_all_within_range(store: Store) -> None:
    """Nothing is reset when every stored offset is at or below the end."""
    store.ingest.clicks("clicks", [], {0: 4})
    assert adopt(store, "clicks", None, {0: 4}) == []
    assert store.ingest.committed_offsets("clicks") == {0: 4}


def test_adopt_topic_records_the_first_id_and_keeps_offsets(store: Store) -> None:
    """The first id seen is recorded; the same id again changes nothing."""
    store.ingest.clicks("clicks", [], {0: 4, 1: 7})
    assert adopt(store, "clicks", "id-A", {0: 9, 1: 9}) == []
    assert store.ingest.topic_incarnation("clicks") == "id-A"
    assert adopt(store, "clicks", "id-A", {0: 9, 1: 9}) == []
    assert store.ingest.committed_offsets("clicks") == {0: 4, 1: 7}


def test_adopt_topic_same_id_trusts_the_id_over_a_short_end_offset(store: Store) -> None:
    """Tansu's high watermark can trail the real end (it is the last batch's base offset + 1):
    with a matching id that is not a re-creation, and nothing is reset."""
    store.ingest.clicks("clicks", [], {0: 32})
    adopt(store, "clicks", "id-A", {0: 32})
    assert adopt(store, "clicks", "id-A", {0: 26}) == []
    assert store.ingest.committed_offsets("clicks") == {0: 32}


def test_adopt_topic_new_id_resets_every_partition_even_when_the_new_topic_is_longer(store: Store) -> None:
    """A recreated topic that already holds more records than we applied is still a new topic.

    This is the case end offsets cannot see (the broker came back and producers refilled it
    before the worker looked): only the id tells, and every partition must be re-read.
    """
    store.ingest.clicks("clicks", [], {0: 4, 1: 7})
    store.ingest.items("items", [], {0: 50})
    adopt(store, "clicks", "id-A", {0: 4, 1: 7})
    stale = adopt(store, "clicks", "id-B", {0: 1_000, 1: 1_000, 2: 1_000})
    assert stale == [0, 1, 2]
    assert store.ingest.committed_offsets("clicks") == {}
    assert store.ingest.topic_incarnation("clicks") == "id-B"
    assert store.ingest.committed_offsets("items") == {0: 50}


def test_adopt_topic_unknown_id_keeps_the_recorded_one(store: Store) -> None:
    """A broker that stops giving ids (None) does not erase the recorded incarnation."""
    store.ingest.clicks("clicks", [], {0: 4})
    adopt(store, "clicks", "id-A", {0: 4})
    assert adopt(store, "clicks", None, {0: 4}) == []
    assert store.ingest.topic_incarnation("clicks") == "id-A"


# -- history ------------------------------------------------------------------------------------------


def test_history_is_oldest_first_limited_and_catalogued_only(store: Store) -> None:
    """The newest ``limit`` catalogued interactions, returned oldest -> newest."""
    store.ingest.items("items", [item("a", "Alpha", ["X", "Y"]), item("b", "Beta"), item("c", "Gamma")], {})
    ingest(
        store,
        [
            click("u1", "a", 100),
            click("u1", "uncatalogued", 150),
            click("u1", "b", 200, event_type="rating", rating=2.0),
            click("u1", "c", 300, event_type="like"),
            click("u1", "uncatalogued", 400),
            click("u2", "a", 500),
        ],
    )
    full = store.retrieval.history("u1", 10)
    assert [(h.item.item_id, h.ts) for h in full] == [("a", 100), ("b", 200), ("c", 300)]
    assert full[0].item.title == "Alpha"
    assert full[0].item.categories == ("X", "Y")
    assert full[1].event_type == "rating"
    assert full[1].rating == 2.0
    assert full[2].event_type == "like"
    assert full[2].rating is None
    last_two = store.retrieval.history("u1", 2)
    assert [h.item.item_id for h in last_two] == ["b", "c"]


def test_history_of_unknown_user_is_empty(store: Store) -> None:
    """No interactions, no history."""
    add_items(store, "a")
    assert store.retrieval.history("nobody", 5) == []


def test_history_breaks_ts_ties_by_offset(store: Store) -> None:
    """Events with the same ts keep their log order."""
    add_items(store, "a", "b")
    ingest(store, [click("u1", "b", 100, offset=900), click("u1", "a", 100, offset=901)])
    assert [h.item.item_id for h in store.retrieval.history("u1", 5)] == ["b", "a"]


def test_stale_partitions_changes_nothing_until_adopted(store: Store) -> None:
    """The worker rewinds the group between the two calls; a failed rewind must leave the
    store as it was, so the next start detects the re-creation again."""
    store.ingest.clicks("clicks", [], {0: 4})
    adopt(store, "clicks", "id-A", {0: 4})
    assert store.ingest.stale_partitions("clicks", "id-B", {0: 9}) == [0]
    assert store.ingest.committed_offsets("clicks") == {0: 4}
    assert store.ingest.topic_incarnation("clicks") == "id-A"
