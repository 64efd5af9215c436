"""The DuckDB store: the worker's system of record and its single writer.

Only ``streams`` writes DuckDB, and inside ``streams`` only this package holds SQL. Import from
here: ``from streams.store import Store, ClickRow``.
"""

from streams.store.async_store import AsyncStore
from streams.store.database import Database
from streams.store.deletion_trail import TrailEntry
from streams.store.deletions import DeletionRecord, PurgeResult, ShardsHolding
from streams.store.dirty_shards import DirtyMark
from streams.store.ingest import (
    CLICK_BATCH_TABLE_SQL,
    STORE_CLICKS_ANSWER,
    ClickRow,
    IngestResult,
    ItemRow,
    click_batch_columns,
    store_clicks_sql,
)
from streams.store.pending import Lane, LaneStats, PendingRecommendation
from streams.store.retrieval import Candidate
from streams.store.schema import SCHEMA_VERSION
from streams.store.snapshot import SNAPSHOT_FILES, DataCut, SnapshotInfo
from streams.store.store import Store
from streams.store.summaries import SummaryRow, SummaryWork

# Database and the click-batch SQL pieces are public for streams.bench.gil_contention, which
# times the same write as one script and as one call per statement.
__all__ = [
    "CLICK_BATCH_TABLE_SQL",
    "SCHEMA_VERSION",
    "STORE_CLICKS_ANSWER",
    "SNAPSHOT_FILES",
    "AsyncStore",
    "Candidate",
    "ClickRow",
    "DataCut",
    "Database",
    "DeletionRecord",
    "DirtyMark",
    "IngestResult",
    "ItemRow",
    "Lane",
    "LaneStats",
    "PendingRecommendation",
    "PurgeResult",
    "ShardsHolding",
    "SnapshotInfo",
    "Store",
    "SummaryRow",
    "SummaryWork",
    "TrailEntry",
    "click_batch_columns",
    "store_clicks_sql",
]
