"""The two lanes of ``rec_pending``: replayed history waits behind users who click now."""

from __future__ import annotations

import time

import duckdb

from streams.store import Store
from streams.store.database import now_ms
from streams.store.pending import LaneStats
from streams.store.schema import SCHEMA_VERSION, migrate
from tests.streams.factories import click, ingest

HOUR_MS = 3_600_000


def test_old_event_times_go_to_the_backfill_lane_and_fresh_ones_to_live(store: Store) -> None:
    now = now_ms()
    ingest(store, [click(f"old{i}", "a", 1_000 + i) for i in range(3)])  # replayed history
    ingest(store, [click("fresh", "a", now)])  # a click that happened just now
    due = store.pending.due(10)
    assert [(p.user_id, p.lane) for p in due] == [
        ("fresh", "live"),
        ("old0", "backfill"),
        ("old1", "backfill"),
        ("old2", "backfill"),
    ], "the live user comes first although it was marked last"


def test_each_lane_is_oldest_first_and_the_threshold_is_a_read_parameter(store: Store) -> None:
    now = now_ms()
    ingest(store, [click("a", "x", now - 2 * HOUR_MS)])
    time.sleep(0.002)
    ingest(store, [click("b", "x", now)])
    time.sleep(0.002)
    ingest(store, [click("c", "x", now - 2 * HOUR_MS)])
    assert [p.user_id for p in store.pending.lane("backfill", 10)] == ["a", "c"]
    assert [p.user_id for p in store.pending.lane("live", 10)] == ["b"]
    # With a three-hour threshold, two-hour-old events count as live: one lane, oldest first.
    three_hours = 3 * HOUR_MS
    assert [p.user_id for p in store.pending.lane("live", 10, three_hours)] == ["a", "b", "c"]
    assert store.pending.lane("backfill", 10, three_hours) == []


def test_skip_leaves_out_users_in_flight_without_costing_a_slot(store: Store) -> None:
    ingest(store, [click(f"u{i}", "x", i) for i in range(5)])
    assert [p.user_id for p in store.pending.lane("backfill", 2, skip={"u0", "u1"})] == ["u2", "u3"]
    assert [p.user_id for p in store.pending.due(2, skip={"u0"})] == ["u1", "u2"]


def test_stats_count_each_lane_and_its_oldest_wait(store: Store) -> None:
    assert store.pending.stats() == {"live": LaneStats(0, 0), "backfill": LaneStats(0, 0)}
    ingest(store, [click("h1", "x", 1), click("h2", "x", 2)])
    ingest(store, [click("now", "x", now_ms())])
    stats = store.pending.stats()
    assert stats["live"].users == 1 and stats["backfill"].users == 2
    assert 0 <= stats["backfill"].oldest_wait_ms < 60_000


def test_a_partial_deletion_marks_the_user_live(store: Store) -> None:
    """The user asked for it just now, so the new ranking is live traffic, not backfill."""
    ingest(store, [click("u", "a", 1, event_id="e1"), click("u", "b", 2, event_id="e2")])
    assert [p.lane for p in store.pending.due(10)] == ["backfill"]
    store.deletions.purge("req-1", "u", ["a"], requested_at=now_ms())
    assert [(p.user_id, p.lane) for p in store.pending.due(10)] == [("u", "live")]


def test_a_v4_file_migrates_and_its_marks_count_as_live(tmp_path: object) -> None:
    path = f"{tmp_path}/v4.duckdb"
    con = duckdb.connect(path)
    con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)")
    con.execute("INSERT INTO meta VALUES ('schema_version', '4'), ('user_key_salt', 'ab')")
    con.execute(
        "CREATE TABLE rec_pending (user_id VARCHAR PRIMARY KEY, trigger_event_id VARCHAR NOT NULL, "
        "updated_at BIGINT NOT NULL)"
    )
    con.execute("INSERT INTO rec_pending VALUES ('u', 'e', ?)", [now_ms()])
    migrate(con, path)
    assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
        str(SCHEMA_VERSION),
    )
    con.close()
    store = Store(path)
    try:
        assert [(p.user_id, p.lane) for p in store.pending.due(10)] == [("u", "live")]
    finally:
        store.close()
