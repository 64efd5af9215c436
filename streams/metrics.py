"""Prometheus metrics of the worker, served at ``/metrics`` by the Faust web server.

One registry per process (the default one), so a scrape shows ingestion, dead letters,
recommendation latency and deletion outcomes side by side. ``deploy/grafana/streamrec.json``
charts them (``tests/test_dashboard.py`` checks that every name it uses is here).

Labels carry bounded values only (topic, source_topic, partition, lane, stage, fallback, shard,
adapter_set, mode, kind, outcome): never a user id, item id or request id, for privacy (a
deleted user must not live on in a time series) and because every distinct value is a new
series in Prometheus. ``tests/streams/test_metrics.py`` enforces it.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "EVENTS_INGESTED",
    "INGEST_LAST_STORED",
    "EVENTS_BLOCKED",
    "EVENTS_DUPLICATE",
    "OFFSET_REWINDS",
    "OFFSET_GAPS_ACCEPTED",
    "DEAD_LETTERS",
    "ITEMS_UPSERTED",
    "INGEST_BATCH_SECONDS",
    "INGEST_BATCH_EVENTS",
    "CONSUMER_LAG",
    "RECOMMENDATIONS",
    "RECOMMEND_SECONDS",
    "SCORE_SECONDS",
    "SCORE_FAILURES",
    "SHARD_USES",
    "DIRTY_SHARDS",
    "ADAPTER_SET_VERSION",
    "RETRAIN_SECONDS",
    "RETRAINS",
    "PENDING_USERS",
    "PENDING_LANE_USERS",
    "PENDING_OLDEST_WAIT",
    "BACKFILL_HELD",
    "SCORE_BATCH_USERS",
    "SCORE_CALLS",
    "DELETIONS",
    "SUMMARIES_WRITTEN",
    "SUMMARY_BACKLOG",
    "SUMMARY_CALL_SECONDS",
]

EVENTS_INGESTED = Counter("streamrec_events_ingested_total", "Click events stored in DuckDB")
INGEST_LAST_STORED = Gauge(
    "streamrec_ingest_last_stored_timestamp_seconds",
    "Unix time at which the last click batch with new clicks committed (now minus it: how stale "
    "ingestion is); also gives benchmarks the exact time of the last stored click",
)
EVENTS_BLOCKED = Counter(
    "streamrec_events_blocked_total", "Click events dropped because a deletion tombstone covers them"
)
EVENTS_DUPLICATE = Counter(
    "streamrec_events_duplicate_total", "Click events skipped because already stored (redelivery)"
)
OFFSET_REWINDS = Counter(
    "streamrec_offset_rewinds_total",
    "Partitions sought back because the consumer was ahead of the offsets stored in DuckDB",
    ["topic"],
)
OFFSET_GAPS_ACCEPTED = Counter(
    "streamrec_offset_gaps_accepted_total",
    "Offset ranges that could not be read after seeking back (retention, transaction markers)",
    ["topic"],
)
DEAD_LETTERS = Counter("streamrec_dead_letters_total", "Records sent to dead-letters", ["source_topic"])
ITEMS_UPSERTED = Counter("streamrec_items_upserted_total", "Catalog entries upserted")
INGEST_BATCH_SECONDS = Histogram(
    "streamrec_ingest_batch_seconds", "Time to validate and durably store one click micro-batch"
)
INGEST_BATCH_EVENTS = Histogram(
    "streamrec_ingest_batch_events",
    "Records in one click micro-batch stored in one DuckDB transaction (valid, duplicate, dead)",
    # Up to STREAMREC_BATCH_MAX_EVENTS (5000); 1 is a live trickle, the top buckets a replay.
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000),
)
CONSUMER_LAG = Gauge(
    "streamrec_consumer_lag_records",
    "Records in a partition not yet processed (log end offset minus the next offset to process)",
    ["topic", "partition"],
)
RECOMMENDATIONS = Counter("streamrec_recommendations_total", "Recommendations published", ["fallback"])
RECOMMEND_SECONDS = Histogram(
    "streamrec_recommend_seconds",
    "Retrieval + scoring + publish time of one recommendation",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32),
)
SCORE_SECONDS = Histogram(
    "streamrec_score_seconds",
    "Triton scoring round trip",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16),
)
SCORE_FAILURES = Counter("streamrec_score_failures_total", "Failed Triton scoring attempts")
SHARD_USES = Counter(
    "streamrec_adapter_shard_uses_total",
    "Published recommendations scored with a shard's adapter at non-zero weight (per set and shard)",
    ["adapter_set", "shard"],
)
DIRTY_SHARDS = Gauge("streamrec_dirty_shards", "Adapter shards excluded from scoring until retrained")
ADAPTER_SET_VERSION = Gauge(
    "streamrec_adapter_set_version",
    "Number of the adapter set that answered the last scoring call (v0003 -> 3; 0 = zero-shot)",
)
RETRAIN_SECONDS = Histogram(
    "streamrec_retrain_seconds",
    "A published retrain (kind=deletion) or refresh (kind=refresh), export to publish, as reported",
    ["kind"],
    buckets=(5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400),
)
RETRAINS = Counter(
    "streamrec_retrains_total",
    "Trainer runs by kind (deletion, refresh) and outcome (retrained, unchanged, failed)",
    ["kind", "outcome"],
)
PENDING_USERS = Gauge("streamrec_pending_users", "Users waiting for a fresh recommendation")
PENDING_LANE_USERS = Gauge(
    "streamrec_pending_lane_users", "Users waiting for a recommendation, per lane (live, backfill)", ["lane"]
)
PENDING_OLDEST_WAIT = Gauge(
    "streamrec_pending_oldest_wait_seconds", "How long the oldest pending user of a lane has waited", ["lane"]
)
BACKFILL_HELD = Gauge(
    "streamrec_backfill_held",
    "1 while the backfill lane waits for replayed history to stop arriving (streams.agents.lanes)",
)
SCORE_BATCH_USERS = Histogram(
    "streamrec_score_batch_users",
    "Users scored together in one Triton call (cross-user batching)",
    buckets=(1, 2, 4, 8, 16, 32, 64),
)
SCORE_CALLS = Counter("streamrec_score_calls_total", "Scoring calls started, per lane", ["lane"])
DELETIONS = Counter(
    "streamrec_deletions_total",
    "Deletion requests reaching a stage: received, purged, dirtied, retrained, served, failed",
    ["stage"],
)
SUMMARIES_WRITTEN = Counter("streamrec_summaries_written_total", "Summary versions stored", ["mode"])
SUMMARY_BACKLOG = Gauge(
    "streamrec_summary_backlog_blocks", "Complete blocks of B interactions waiting to be summarized"
)
SUMMARY_CALL_SECONDS = Histogram(
    "streamrec_summary_call_seconds",
    "One batched summarizer call through Triton",
    buckets=(0.1, 0.5, 1, 2, 4, 8, 16, 32, 64, 128),
)
