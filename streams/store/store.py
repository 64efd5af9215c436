"""The DuckDB store: schema and every SQL statement streamrec runs. The single writer.

Why one class owns all SQL: DuckDB allows one writing process per file, and the guarantees of
the runtime (idempotent ingestion, exact deletion, no resurrection by replay) are properties of
*transactions*. Keeping every statement here makes those transactions reviewable in one place.

Guarantees implemented here:

* **Idempotent ingestion.** A click batch, the consumed offsets and the "needs a fresh
  recommendation" marks commit in one transaction. Redelivered records (offset below the stored
  one) are skipped by the caller, and ``event_id`` is a primary key, so a crash between the
  DuckDB commit and the Kafka commit never double-counts.
* **Deletion ledger first.** A request is written durably before any purge, so a crash mid-way
  resumes the purge on redelivery.
* **Tombstones.** A purge leaves a tombstone keyed by a salted hash of the user id (never the id
  itself). Ingestion drops any event at or before the tombstone's time, in the same transaction
  as the insert, so a replay of old events cannot bring the data back.

Physical note: DuckDB deletes are logical; the purge runs ``CHECKPOINT`` so the write-ahead log
no longer holds the rows, but freed blocks in the file may keep old bytes until reused.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from models.types import HistoryEntry, ItemText
from streams.summary_store import SummaryQueries

__all__ = [
    "Store",
    "ClickRow",
    "ItemRow",
    "Candidate",
    "IngestResult",
    "DeletionRecord",
    "PurgeResult",
    "PendingRecommendation",
]

SCHEMA_VERSION = 2  # 2: interactions.seq and the summaries table

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    item_id VARCHAR PRIMARY KEY,
    title VARCHAR NOT NULL,
    description VARCHAR,
    categories VARCHAR[] NOT NULL,
    attributes VARCHAR NOT NULL,          -- JSON object as text
    updated_at BIGINT NOT NULL            -- epoch ms, wall clock
);
CREATE TABLE IF NOT EXISTS interactions (
    event_id VARCHAR PRIMARY KEY,
    user_id VARCHAR NOT NULL,
    item_id VARCHAR NOT NULL,
    event_type VARCHAR NOT NULL,
    rating DOUBLE,
    ts BIGINT NOT NULL,                   -- event time, epoch ms
    ingested_at BIGINT NOT NULL,          -- wall clock, epoch ms
    source_partition INTEGER NOT NULL,
    source_offset BIGINT NOT NULL,
    seq BIGINT NOT NULL                   -- global ingestion order; summary chains follow it
);
CREATE TABLE IF NOT EXISTS consumer_offsets (
    topic VARCHAR NOT NULL,
    "partition" INTEGER NOT NULL,
    next_offset BIGINT NOT NULL,          -- first offset NOT yet applied
    PRIMARY KEY (topic, "partition")
);
CREATE TABLE IF NOT EXISTS rec_pending (
    user_id VARCHAR PRIMARY KEY,
    trigger_event_id VARCHAR NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS deletion_requests (
    request_id VARCHAR PRIMARY KEY,
    user_key VARCHAR NOT NULL,            -- salted sha256 of the user id
    user_id VARCHAR,                      -- kept only until the purge commits
    item_ids VARCHAR[],                   -- NULL: the whole user
    requested_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    stage VARCHAR NOT NULL,               -- received | purged
    purged_at BIGINT,
    rows_deleted BIGINT
);
CREATE TABLE IF NOT EXISTS summaries (
    user_id VARCHAR NOT NULL,
    version INTEGER NOT NULL,             -- 1, 2, ... contiguous per user
    summary VARCHAR NOT NULL,
    first_seq BIGINT NOT NULL,            -- first interaction this version added
    through_seq BIGINT NOT NULL,          -- the chain covers every interaction of the user <= this
    through_event_id VARCHAR NOT NULL,    -- the last interaction covered
    interactions_covered INTEGER NOT NULL,-- cumulative, over the whole chain
    blocks INTEGER NOT NULL,              -- blocks of B folded into this version (1 unless behind)
    mode VARCHAR NOT NULL,                -- recurrent | hierarchical | rebuild
    model_name VARCHAR NOT NULL,
    model_version VARCHAR NOT NULL,
    created_at BIGINT NOT NULL,
    latency_ms DOUBLE NOT NULL,
    prompt_sha256 VARCHAR NOT NULL,       -- provenance: the exact prompt that produced the text
    PRIMARY KEY (user_id, version)
);
CREATE TABLE IF NOT EXISTS tombstones (
    user_key VARCHAR NOT NULL,
    item_id VARCHAR,                      -- NULL: every item of the user
    deleted_through BIGINT NOT NULL,      -- events with ts <= this are never stored again
    request_id VARCHAR NOT NULL
);
"""


def _now_ms() -> int:
    return int(time.time() * 1000)


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


@dataclass(frozen=True)
class Candidate:
    """A retrieved candidate with the signals that retrieved it."""

    item: ItemText
    cooccurrence: float
    popularity: float


@dataclass(frozen=True)
class DeletionRecord:
    request_id: str
    stage: str
    rows_deleted: int | None


@dataclass(frozen=True)
class PurgeResult:
    request_id: str
    rows_deleted: int
    deleted_through: int
    summaries_invalidated: int = 0


@dataclass(frozen=True)
class PendingRecommendation:
    user_id: str
    trigger_event_id: str
    updated_at: int


class Store(SummaryQueries):
    """All reads and writes of ``streamrec.duckdb`` (summary chains: ``streams.summary_store``).

    Not thread-safe: the worker calls it from one dedicated thread (see ``streams.runtime``).
    """

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = str(path)
        if self.path != ":memory:" and not read_only:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._con = duckdb.connect(self.path, read_only=read_only)
        if not read_only:
            self._migrate()
        self._salt = self._meta("user_key_salt")

    # -- lifecycle -------------------------------------------------------------------------

    def _migrate(self) -> None:
        con = self._con
        con.execute(_SCHEMA)
        con.execute(
            "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?), ('user_key_salt', ?)",
            [str(SCHEMA_VERSION), secrets.token_hex(16)],
        )
        version = int(self._meta("schema_version"))
        if version < 2:
            # v1 -> v2: number existing interactions in ingestion order.
            con.execute("ALTER TABLE interactions ADD COLUMN IF NOT EXISTS seq BIGINT")
            con.execute(
                """
                UPDATE interactions SET seq = r.rn FROM (
                    SELECT event_id, row_number() OVER (
                        ORDER BY ingested_at, source_partition, source_offset) AS rn
                    FROM interactions) r
                WHERE interactions.event_id = r.event_id
                """
            )
        if version < SCHEMA_VERSION:
            con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION)])

    def _meta(self, key: str) -> str:
        row = self._con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        if row is None:
            raise RuntimeError(f"store at {self.path} has no meta key {key!r}; was it migrated?")
        return str(row[0])

    def close(self) -> None:
        self._con.close()

    def user_key(self, user_id: str) -> str:
        """Salted hash of a user id: lets tombstones match a user without keeping the id."""
        return hashlib.sha256(f"{self._salt}:{user_id}".encode()).hexdigest()

    # -- offsets ---------------------------------------------------------------------------

    def committed_offsets(self, topic: str) -> dict[int, int]:
        """Next offset to apply per partition of ``topic`` (records below it are applied)."""
        rows = self._con.execute(
            'SELECT "partition", next_offset FROM consumer_offsets WHERE topic = ?', [topic]
        ).fetchall()
        return {int(p): int(o) for p, o in rows}

    def reset_stale_offsets(self, topic: str, end_offsets: Mapping[int, int]) -> list[int]:
        """Forget stored offsets that lie beyond the partition's end; return those partitions.

        An end offset below what we already applied means the topic was recreated (the
        embedded broker keeps topics in memory only). Keeping the old offsets would make the
        worker skip every new record as "already applied".
        """
        stale = [
            partition
            for partition, next_offset in self.committed_offsets(topic).items()
            if next_offset > end_offsets.get(partition, 0)
        ]
        for partition in stale:
            self._con.execute(
                'DELETE FROM consumer_offsets WHERE topic = ? AND "partition" = ?', [topic, partition]
            )
        return stale

    def _save_offsets(self, topic: str, next_offsets: Mapping[int, int]) -> None:
        for partition, next_offset in next_offsets.items():
            self._con.execute(
                "INSERT OR REPLACE INTO consumer_offsets VALUES (?, ?, ?)",
                [topic, partition, next_offset],
            )

    # -- ingestion -------------------------------------------------------------------------

    def ingest_clicks(
        self, topic: str, rows: Sequence[ClickRow], next_offsets: Mapping[int, int]
    ) -> IngestResult:
        """Store a micro-batch and its offsets atomically; mark affected users for re-ranking.

        ``next_offsets`` covers every record of the batch, including rejected ones, so a
        redelivery skips them too.
        """
        unique: dict[str, ClickRow] = {}
        for row in rows:
            unique.setdefault(row.event_id, row)
        batch = list(unique.values())
        now = _now_ms()
        table = pa.table(
            {
                "pos": pa.array(range(len(batch)), pa.int64()),
                "event_id": pa.array([r.event_id for r in batch], pa.string()),
                "user_id": pa.array([r.user_id for r in batch], pa.string()),
                "user_key": pa.array([self.user_key(r.user_id) for r in batch], pa.string()),
                "item_id": pa.array([r.item_id for r in batch], pa.string()),
                "event_type": pa.array([r.event_type for r in batch], pa.string()),
                "rating": pa.array([r.rating for r in batch], pa.float64()),
                "ts": pa.array([r.ts for r in batch], pa.int64()),
                "partition": pa.array([r.partition for r in batch], pa.int32()),
                "offset": pa.array([r.offset for r in batch], pa.int64()),
            }
        )
        con = self._con
        con.execute("BEGIN TRANSACTION")
        try:
            con.register("click_batch", table)
            # 1. Drop events covered by a deletion tombstone (replays of forgotten data).
            con.execute(
                """
                CREATE OR REPLACE TEMP TABLE click_ok AS
                SELECT b.* FROM click_batch b
                WHERE NOT EXISTS (
                    SELECT 1 FROM tombstones t
                    WHERE t.user_key = b.user_key
                      AND (t.item_id IS NULL OR t.item_id = b.item_id)
                      AND b.ts <= t.deleted_through)
                """
            )
            kept = _count(con, "SELECT count(*) FROM click_ok")
            # 2. Drop events already stored (redelivery, producer retries).
            con.execute("DELETE FROM click_ok WHERE event_id IN (SELECT event_id FROM interactions)")
            fresh = _count(con, "SELECT count(*) FROM click_ok")
            con.execute(
                """
                INSERT INTO interactions (event_id, user_id, item_id, event_type, rating, ts,
                                          ingested_at, source_partition, source_offset, seq)
                SELECT event_id, user_id, item_id, event_type, rating, ts, ?, "partition", "offset",
                       (SELECT coalesce(max(seq), 0) FROM interactions) + row_number() OVER (ORDER BY pos)
                FROM click_ok
                """,
                [now],
            )
            # 3. Latest wins: one pending mark per user, pointing at their newest event.
            con.execute(
                """
                INSERT OR REPLACE INTO rec_pending
                SELECT user_id, arg_max(event_id, pos), ? FROM click_ok GROUP BY user_id
                """,
                [now],
            )
            self._save_offsets(topic, next_offsets)
            con.execute("DROP TABLE click_ok")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            con.unregister("click_batch")
        return IngestResult(
            received=len(rows),
            inserted=fresh,
            blocked=len(batch) - kept,
            duplicates=(len(rows) - len(batch)) + (kept - fresh),
        )

    def upsert_items(self, topic: str, rows: Sequence[ItemRow], next_offsets: Mapping[int, int]) -> int:
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
        con = self._con
        con.execute("BEGIN TRANSACTION")
        try:
            con.register("item_batch", table)
            con.execute(
                """
                INSERT OR REPLACE INTO items
                SELECT item_id, title, description, categories, attributes, ? FROM item_batch
                """,
                [_now_ms()],
            )
            self._save_offsets(topic, next_offsets)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            con.unregister("item_batch")
        return len(batch)

    # -- recommendation inputs ----------------------------------------------------------------

    def pending_recommendations(self, limit: int) -> list[PendingRecommendation]:
        """Users whose newest clicks have not been answered yet, oldest request first."""
        rows = self._con.execute(
            "SELECT user_id, trigger_event_id, updated_at FROM rec_pending "
            "ORDER BY updated_at, user_id LIMIT ?",
            [limit],
        ).fetchall()
        return [PendingRecommendation(str(u), str(t), int(a)) for u, t, a in rows]

    def clear_pending(self, user_id: str, trigger_event_id: str) -> bool:
        """Remove a pending mark only if no newer click replaced it meanwhile (latest wins)."""
        row = self._con.execute(
            "DELETE FROM rec_pending WHERE user_id = ? AND trigger_event_id = ? RETURNING user_id",
            [user_id, trigger_event_id],
        ).fetchone()
        return row is not None

    def defer_pending(self, user_id: str) -> None:
        """Move a user to the back of the pending queue (after a failed answer)."""
        self._con.execute("UPDATE rec_pending SET updated_at = ? WHERE user_id = ?", [_now_ms(), user_id])

    def pending_count(self) -> int:
        return _count(self._con, "SELECT count(*) FROM rec_pending")

    def history(self, user_id: str, limit: int) -> list[HistoryEntry]:
        """The user's most recent catalogued interactions, oldest first (prompt order)."""
        rows = self._con.execute(
            """
            SELECT i.item_id, it.title, it.categories, it.description, i.event_type, i.rating, i.ts
            FROM interactions i JOIN items it ON it.item_id = i.item_id
            WHERE i.user_id = ?
            ORDER BY i.ts DESC, i.source_offset DESC
            LIMIT ?
            """,
            [user_id, limit],
        ).fetchall()
        entries = [
            HistoryEntry(
                item=ItemText(
                    item_id=str(item_id),
                    title=str(title),
                    categories=tuple(categories or ()),
                    description=description,
                ),
                event_type=str(event_type),
                rating=rating,
                ts=int(ts),
            )
            for item_id, title, categories, description, event_type, rating, ts in rows
        ]
        entries.reverse()
        return entries

    def candidates(
        self,
        user_id: str,
        n: int,
        *,
        popularity_window_ms: int,
        seed_items: int = 20,
        cooccurrence_share: float = 0.75,
    ) -> list[Candidate]:
        """Retrieve up to ``n`` catalogued items the user has not interacted with.

        Two sources, both computed in SQL over the live tables:

        1. Item co-occurrence with the user's ``seed_items`` most recent positive interactions:
           ``score(c) = sum over seeds s of #users who positively interacted with both s and c``
           (computed via neighbour users weighted by their overlap with the seeds).
        2. Recent popularity: interactions in the last ``popularity_window_ms`` of *event*
           time (replays carry historic timestamps, so wall-clock windows would be empty).

        Up to ``cooccurrence_share`` of the slots go to co-occurrence, the rest to popularity,
        so a user with a narrow history still sees what is trending.
        """
        n_co = max(1, int(round(n * cooccurrence_share)))
        rows = self._con.execute(
            """
            WITH positive AS (
                SELECT user_id, item_id, ts FROM interactions
                WHERE event_type <> 'dislike' AND (rating IS NULL OR rating >= 3.0)
            ),
            seeds AS (
                SELECT DISTINCT item_id FROM (
                    SELECT item_id FROM positive WHERE user_id = $user ORDER BY ts DESC LIMIT $seeds)
            ),
            seen AS (SELECT DISTINCT item_id FROM interactions WHERE user_id = $user),
            neighbours AS (
                SELECT p.user_id, count(DISTINCT p.item_id) AS overlap
                FROM positive p JOIN seeds s ON p.item_id = s.item_id
                WHERE p.user_id <> $user GROUP BY p.user_id
            ),
            co AS (
                SELECT p.item_id, sum(n.overlap) AS co
                FROM (SELECT DISTINCT user_id, item_id FROM positive) p
                JOIN neighbours n ON p.user_id = n.user_id
                GROUP BY p.item_id
            ),
            pop AS (
                SELECT item_id, count(*) AS pop FROM interactions
                WHERE ts >= (SELECT coalesce(max(ts), 0) FROM interactions) - $window
                GROUP BY item_id
            ),
            scored AS (
                SELECT it.item_id, it.title, it.categories, it.description,
                       coalesce(co.co, 0) AS co, coalesce(pop.pop, 0) AS pop
                FROM items it
                LEFT JOIN co ON co.item_id = it.item_id
                LEFT JOIN pop ON pop.item_id = it.item_id
                WHERE it.item_id NOT IN (SELECT item_id FROM seen)
            ),
            ranked AS (
                SELECT *,
                       row_number() OVER (ORDER BY co DESC, pop DESC, item_id) AS r_co,
                       row_number() OVER (ORDER BY pop DESC, co DESC, item_id) AS r_pop
                FROM scored
            )
            SELECT item_id, title, categories, description, co, pop
            FROM ranked
            WHERE (co > 0 AND r_co <= $n_co) OR r_pop <= $n
            ORDER BY CASE WHEN co > 0 AND r_co <= $n_co THEN 0 ELSE 1 END,
                     CASE WHEN co > 0 AND r_co <= $n_co THEN r_co ELSE r_pop END
            LIMIT $n
            """,
            {
                "user": user_id,
                "seeds": seed_items,
                "window": popularity_window_ms,
                "n_co": n_co,
                "n": n,
            },
        ).fetchall()
        return [
            Candidate(
                item=ItemText(
                    item_id=str(item_id),
                    title=str(title),
                    categories=tuple(categories or ()),
                    description=description,
                ),
                cooccurrence=float(co),
                popularity=float(pop),
            )
            for item_id, title, categories, description, co, pop in rows
        ]

    def has_interactions(self, user_id: str) -> bool:
        row = self._con.execute("SELECT 1 FROM interactions WHERE user_id = ? LIMIT 1", [user_id]).fetchone()
        return row is not None

    # -- deletion --------------------------------------------------------------------------

    def record_deletion(
        self, request_id: str, user_id: str, item_ids: Sequence[str] | None, requested_at: int
    ) -> DeletionRecord:
        """Write the request to the ledger (durably, before any purge). Idempotent."""
        self._con.execute(
            """
            INSERT OR IGNORE INTO deletion_requests
                (request_id, user_key, user_id, item_ids, requested_at, received_at, stage)
            VALUES (?, ?, ?, ?, ?, ?, 'received')
            """,
            [
                request_id,
                self.user_key(user_id),
                user_id,
                list(item_ids) if item_ids is not None else None,
                requested_at,
                _now_ms(),
            ],
        )
        return self.deletion(request_id)

    def deletion(self, request_id: str) -> DeletionRecord:
        row = self._con.execute(
            "SELECT stage, rows_deleted FROM deletion_requests WHERE request_id = ?", [request_id]
        ).fetchone()
        if row is None:
            raise KeyError(f"no deletion request {request_id!r}")
        return DeletionRecord(request_id, str(row[0]), None if row[1] is None else int(row[1]))

    def unfinished_deletions(self) -> list[tuple[str, str, list[str] | None, int]]:
        """Requests recorded but not purged (a crash between ledger write and purge)."""
        rows = self._con.execute(
            "SELECT request_id, user_id, item_ids, requested_at FROM deletion_requests "
            "WHERE stage = 'received' ORDER BY received_at"
        ).fetchall()
        return [(str(r), str(u), None if i is None else list(i), int(t)) for r, u, i, t in rows]

    def purge(
        self, request_id: str, user_id: str, item_ids: Sequence[str] | None, requested_at: int
    ) -> PurgeResult:
        """Delete the user's rows (or those items), leave a tombstone, close the ledger entry.

        All in one transaction, followed by a checkpoint so the WAL no longer holds the rows.
        The tombstone reaches at least the newest deleted event, so even events stamped after
        ``requested_at`` that were deleted here cannot be replayed back in.
        """
        key = self.user_key(user_id)
        items = list(item_ids) if item_ids is not None else None
        where = "user_id = ?" + (" AND list_contains(?, item_id)" if items is not None else "")
        params: list[Any] = [user_id] + ([items] if items is not None else [])
        con = self._con
        con.execute("BEGIN TRANSACTION")
        try:
            bounds = con.execute(
                f"SELECT max(ts), min(seq) FROM interactions WHERE {where}", params
            ).fetchone()
            max_ts = int(bounds[0]) if bounds and bounds[0] is not None else 0
            first_deleted_seq = int(bounds[1]) if bounds and bounds[1] is not None else None
            deleted = _count(con, f"DELETE FROM interactions WHERE {where}", params)  # returns the count
            # Every summary version from the first one covering a deleted interaction on derives
            # from deleted data (the chain is recurrent), so all of them go.
            if items is None:
                invalidated = _count(con, "DELETE FROM summaries WHERE user_id = ?", [user_id])
            elif first_deleted_seq is not None:
                invalidated = _count(
                    con,
                    "SELECT count(*) FROM summaries WHERE user_id = ? AND through_seq >= ?",
                    [user_id, first_deleted_seq],
                )
                if invalidated:
                    # The chain is rebuilt from scratch (block by block, one user per call), so
                    # the result equals summarizing the retained interactions anew; batched
                    # generation is not bit-identical across batch compositions.
                    con.execute("DELETE FROM summaries WHERE user_id = ?", [user_id])
            else:
                invalidated = 0
            through = max(requested_at, max_ts)
            if items is None:
                con.execute("DELETE FROM rec_pending WHERE user_id = ?", [user_id])
                con.execute("INSERT INTO tombstones VALUES (?, NULL, ?, ?)", [key, through, request_id])
            else:
                for item_id in items:
                    con.execute(
                        "INSERT INTO tombstones VALUES (?, ?, ?, ?)",
                        [key, item_id, through, request_id],
                    )
                # The remaining history changed, so the user's ranking must be recomputed.
                con.execute(
                    """
                    INSERT OR REPLACE INTO rec_pending
                    SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM interactions WHERE user_id = ?)
                    """,
                    [user_id, f"deletion:{request_id}", _now_ms(), user_id],
                )
            con.execute(
                """
                UPDATE deletion_requests
                SET stage = 'purged', user_id = NULL, purged_at = ?, rows_deleted = ?
                WHERE request_id = ?
                """,
                [_now_ms(), deleted, request_id],
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("CHECKPOINT")
        return PurgeResult(request_id, deleted, through, invalidated)

    # -- introspection ---------------------------------------------------------------------

    def table_counts(self) -> dict[str, int]:
        tables = [
            str(r[0])
            for r in self._con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE NOT temporary ORDER BY table_name"
            ).fetchall()
        ]
        return {t: _count(self._con, f'SELECT count(*) FROM "{t}"') for t in tables}

    def rows_mentioning(self, value: str) -> dict[str, int]:
        """Rows in any table with ``value`` in any text or text-list column (deletion audits)."""
        found: dict[str, int] = {}
        columns = self._con.execute(
            """
            SELECT table_name, column_name, data_type FROM duckdb_columns()
            WHERE NOT internal AND data_type IN ('VARCHAR', 'VARCHAR[]')
            """
        ).fetchall()
        for table, column, data_type in columns:
            predicate = f'list_contains("{column}", ?)' if data_type == "VARCHAR[]" else f'"{column}" = ?'
            hits = _count(self._con, f'SELECT count(*) FROM "{table}" WHERE {predicate}', [value])
            if hits:
                found[f"{table}.{column}"] = found.get(f"{table}.{column}", 0) + hits
        return found

    def interaction_count(self, user_id: str | None = None) -> int:
        if user_id is None:
            return _count(self._con, "SELECT count(*) FROM interactions")
        return _count(self._con, "SELECT count(*) FROM interactions WHERE user_id = ?", [user_id])

    def distinct_event_ids(self) -> int:
        return _count(self._con, "SELECT count(DISTINCT event_id) FROM interactions")

    def execute(self, sql: str, params: Iterable[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a read query (for status and tests)."""
        return self._con.execute(sql, list(params or [])).fetchall()


def _count(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None) -> int:
    row = con.execute(sql, list(params or [])).fetchone()
    return int(row[0]) if row else 0
