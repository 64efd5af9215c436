"""Idempotent ingestion: micro-batches of clicks and catalog entries, with their Kafka offsets.

Every statement of the "exactly once in effect" guarantee is in this file:

* A click batch, the consumed offsets of *every* record in it (rejected ones included) and the
  users' "needs a fresh recommendation" marks commit in one transaction.
* Records below the stored offsets are skipped by the caller (``streams.delivery``), and
  ``event_id`` is a primary key, so a crash between the DuckDB commit and the Kafka commit
  never double-counts, and neither do producer retries.
* Events covered by a deletion tombstone are dropped in the same transaction
  (``streams.store.tombstones``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from streams.store.database import Database, now_ms
from streams.store.tombstones import drop_forgotten

__all__ = ["ClickRow", "ItemRow", "IngestResult", "Ingest"]


@dataclass(frozen=True)
class ClickRow:
    """A validated click, ready to store."""

    event_id: str
    user_id: str
    item_id: str
    event_type: str
    rating: float | None
    ts: int
    partition: int
    offset: int


@dataclass(frozen=True)
class ItemRow:
    """A validated catalog entry, ready to upsert."""

    item_id: str
    title: str
    description: str | None
    categories: tuple[str, ...]
    attributes: Mapping[str, Any]


@dataclass(frozen=True)
class IngestResult:
    received: int  # rows offered
    inserted: int  # rows stored
    blocked: int  # rows dropped by a deletion tombstone
    duplicates: int  # rows whose event_id was already stored


def _save_offsets(con: duckdb.DuckDBPyConnection, topic: str, next_offsets: Mapping[int, int]) -> None:
    if not next_offsets:
        return
    # One statement for all partitions: per-statement overhead showed in the ingest profile
    # (``python -m streams.bench.ingest_ceiling``), and a micro-batch touches every partition.
    rows = ", ".join("(?, ?, ?)" for _ in next_offsets)
    values = [v for partition, offset in next_offsets.items() for v in (topic, partition, offset)]
    con.execute(f"INSERT OR REPLACE INTO consumer_offsets VALUES {rows}", values)


class Ingest:
    """Writes of the ingest agents and the offsets they resume from."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def committed_offsets(self, topic: str) -> dict[int, int]:
        """Next offset to apply per partition of ``topic`` (records below it are applied)."""
        rows = self._db.con.execute(
            'SELECT "partition", next_offset FROM consumer_offsets WHERE topic = ?', [topic]
        ).fetchall()
        return {int(p): int(o) for p, o in rows}

    def topic_incarnation(self, topic: str) -> str | None:
        """The Kafka topic id the stored offsets of ``topic`` belong to (None: not recorded)."""
        row = self._db.con.execute(
            "SELECT topic_id FROM topic_incarnations WHERE topic = ?", [topic]
        ).fetchone()
        return None if row is None else str(row[0])

    def stale_partitions(self, topic: str, topic_id: str | None, end_offsets: Mapping[int, int]) -> list[int]:
        """Partitions of ``topic`` whose stored offsets are not positions in the broker's topic.

        Stored offsets are positions in one *incarnation* of the topic. If the topic was
        deleted and created again (the embedded broker keeps topics in memory only), keeping
        them would make the worker skip every new record below them as "already applied".

        * A recorded topic id different from ``topic_id`` means a new incarnation: every
          partition is stale, whatever the new topic already holds. The same id means the
          same topic, and the end offsets are not consulted: Tansu 0.6's high watermark is
          the *base* offset of the last batch + 1 (produce 25 records, then a batch of 7: it
          answers 26, not 32), so comparing with it would reset healthy partitions.
        * Without ids (a broker older than Kafka 2.8, or none recorded yet), an end offset
          below what we applied is the only evidence.

        Read-only: ``adopt_topic`` applies the answer once the consumer group is rewound.
        """
        stored = self.committed_offsets(topic)
        recorded = self.topic_incarnation(topic)
        if topic_id is not None and recorded is not None:
            return sorted(set(stored) | set(end_offsets)) if recorded != topic_id else []
        return sorted(p for p, next_offset in stored.items() if next_offset > end_offsets.get(p, 0))

    def adopt_topic(self, topic: str, topic_id: str | None, stale: Sequence[int]) -> None:
        """Drop the stored offsets of the ``stale`` partitions and record ``topic_id``, atomically.

        Re-reading a partition from the start is safe: ``event_id`` is a primary key and
        tombstones still block forgotten users.
        """
        with self._db.transaction() as con:
            for partition in stale:
                con.execute(
                    'DELETE FROM consumer_offsets WHERE topic = ? AND "partition" = ?', [topic, partition]
                )
            if topic_id is not None:
                con.execute(
                    "INSERT OR REPLACE INTO topic_incarnations VALUES (?, ?, ?)", [topic, topic_id, now_ms()]
                )

    def clicks(self, topic: str, rows: Sequence[ClickRow], next_offsets: Mapping[int, int]) -> IngestResult:
        """Store a micro-batch and its offsets atomically; mark affected users for re-ranking.

        ``next_offsets`` covers every record of the batch, including rejected ones, so a
        redelivery skips them too.
        """
        unique: dict[str, ClickRow] = {}
        for row in rows:
            unique.setdefault(row.event_id, row)
        batch = list(unique.values())
        now = now_ms()
        table = pa.table(
            {
                "pos": pa.array(range(len(batch)), pa.int64()),
                "event_id": pa.array([r.event_id for r in batch], pa.string()),
                "user_id": pa.array([r.user_id for r in batch], pa.string()),
                "user_key": pa.array([self._db.user_key(r.user_id) for r in batch], pa.string()),
                "item_id": pa.array([r.item_id for r in batch], pa.string()),
                "event_type": pa.array([r.event_type for r in batch], pa.string()),
                "rating": pa.array([r.rating for r in batch], pa.float64()),
                "ts": pa.array([r.ts for r in batch], pa.int64()),
                "partition": pa.array([r.partition for r in batch], pa.int32()),
                "offset": pa.array([r.offset for r in batch], pa.int64()),
            }
        )
        db = self._db
        try:
            with db.transaction() as con:
                con.register("click_batch", table)
                # 1. Drop events covered by a deletion tombstone (replays of forgotten data).
                drop_forgotten(con, "click_batch", "click_ok")
                kept = db.count("SELECT count(*) FROM click_ok")
                # 2. Drop events already stored (redelivery, producer retries).
                con.execute("DELETE FROM click_ok WHERE event_id IN (SELECT event_id FROM interactions)")
                fresh = db.count("SELECT count(*) FROM click_ok")
                con.execute(
                    """
                    INSERT INTO interactions (event_id, user_id, item_id, event_type, rating, ts,
                                              ingested_at, source_partition, source_offset, seq)
                    SELECT event_id, user_id, item_id, event_type, rating, ts, ?, "partition", "offset",
                           (SELECT coalesce(max(seq), 0) FROM interactions)
                               + row_number() OVER (ORDER BY pos)
                    FROM click_ok
                    """,
                    [now],
                )
                # 3. Latest wins: one pending mark per user, pointing at their newest event.
                con.execute(
                    """
                    INSERT OR REPLACE INTO rec_pending (user_id, trigger_event_id, updated_at, trigger_ts)
                    SELECT user_id, arg_max(event_id, pos), ?, arg_max(ts, pos) FROM click_ok GROUP BY user_id
                    """,
                    [now],
                )
                # 4. The offsets of every record of the batch, in the same transaction.
                _save_offsets(con, topic, next_offsets)
                con.execute("DROP TABLE click_ok")
        finally:
            db.con.unregister("click_batch")
        return IngestResult(
            received=len(rows),
            inserted=fresh,
            blocked=len(batch) - kept,
            duplicates=(len(rows) - len(batch)) + (kept - fresh),
        )

    def items(self, topic: str, rows: Sequence[ItemRow], next_offsets: Mapping[int, int]) -> int:
        """Upsert catalog entries (last value per item wins) and the offsets, atomically."""
        latest: dict[str, ItemRow] = {}
        for row in rows:
            latest[row.item_id] = row
        batch = list(latest.values())
        table = pa.table(
            {
                "item_id": pa.array([r.item_id for r in batch], pa.string()),
                "title": pa.array([r.title for r in batch], pa.string()),
                "description": pa.array([r.description for r in batch], pa.string()),
                "categories": pa.array([list(r.categories) for r in batch], pa.list_(pa.string())),
                "attributes": pa.array([json.dumps(dict(r.attributes)) for r in batch], pa.string()),
            }
        )
        db = self._db
        try:
            with db.transaction() as con:
                con.register("item_batch", table)
                con.execute(
                    """
                    INSERT OR REPLACE INTO items
                    SELECT item_id, title, description, categories, attributes, ? FROM item_batch
                    """,
                    [now_ms()],
                )
                _save_offsets(con, topic, next_offsets)
        finally:
            db.con.unregister("item_batch")
        return len(batch)
