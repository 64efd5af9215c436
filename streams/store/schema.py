"""The DuckDB schema of ``streamrec.duckdb`` and its migrations.

Every table is created here and nowhere else, so the whole data model reads in one place. The
schema version lives in the ``meta`` table; :func:`migrate` brings an older file forward in
place. Any change here needs a CHANGELOG entry and a new ``SCHEMA_VERSION``.
"""

from __future__ import annotations

import secrets

import duckdb

__all__ = ["SCHEMA_VERSION", "migrate", "read_meta"]

SCHEMA_VERSION = 6  # 2: interactions.seq and summaries; 3: dirty_shards; 4: deletion_audit;
# 5: rec_pending.trigger_ts (the priority lanes); 6: topic_incarnations

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
CREATE TABLE IF NOT EXISTS topic_incarnations (
    topic VARCHAR PRIMARY KEY,
    topic_id VARCHAR NOT NULL,            -- Kafka's topic id: consumer_offsets are offsets of it
    adopted_at BIGINT NOT NULL            -- epoch ms
);
CREATE TABLE IF NOT EXISTS rec_pending (
    user_id VARCHAR PRIMARY KEY,
    trigger_event_id VARCHAR NOT NULL,
    updated_at BIGINT NOT NULL,           -- wall clock of the mark, epoch ms
    trigger_ts BIGINT                     -- event time of the trigger; far behind updated_at = backfill
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
CREATE TABLE IF NOT EXISTS dirty_shards (
    mark_id BIGINT PRIMARY KEY,           -- 1, 2, ...: a retrain covers the marks up to its snapshot's
    shard INTEGER NOT NULL,               -- the shard whose served adapter learned from deleted data
    adapter_set VARCHAR NOT NULL,         -- the set version that held it when marked
    request_id VARCHAR NOT NULL,          -- the deletion request (no user id, not even salted)
    marked_at BIGINT NOT NULL,
    cleared_by VARCHAR,                   -- the set version whose retrain of the shard covers it
    cleared_at BIGINT
);
CREATE TABLE IF NOT EXISTS deletion_audit (
    entry_id BIGINT PRIMARY KEY,          -- 1, 2, ...: the order the steps committed in
    request_id VARCHAR NOT NULL,          -- the deletion request (no user id, not even salted)
    stage VARCHAR NOT NULL,               -- received | purged | dirtied | retrained | served | failed
    logged_at BIGINT NOT NULL,            -- epoch ms
    detail VARCHAR NOT NULL               -- JSON: rows per table, shards, hashes, durations
);
CREATE TABLE IF NOT EXISTS tombstones (
    user_key VARCHAR NOT NULL,
    item_id VARCHAR,                      -- NULL: every item of the user
    deleted_through BIGINT NOT NULL,      -- events with ts <= this are never stored again
    request_id VARCHAR NOT NULL
);
"""


def read_meta(con: duckdb.DuckDBPyConnection, key: str, path: str) -> str:
    row = con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
    if row is None:
        raise RuntimeError(f"store at {path} has no meta key {key!r}; was it migrated?")
    return str(row[0])


def migrate(con: duckdb.DuckDBPyConnection, path: str) -> None:
    """Create missing tables and bring an older file up to ``SCHEMA_VERSION``. Idempotent."""
    con.execute(_SCHEMA)
    con.execute(
        "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?), ('user_key_salt', ?)",
        [str(SCHEMA_VERSION), secrets.token_hex(16)],
    )
    version = int(read_meta(con, "schema_version", path))
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
    if version < 5:
        # v4 -> v5: marks written before the lanes existed count as live traffic.
        con.execute("ALTER TABLE rec_pending ADD COLUMN IF NOT EXISTS trigger_ts BIGINT")
        con.execute("UPDATE rec_pending SET trigger_ts = updated_at WHERE trigger_ts IS NULL")
    if version < SCHEMA_VERSION:
        con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION)])
