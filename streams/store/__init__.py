"""The DuckDB store: the worker's system of record and its single writer.

Only ``streams`` writes DuckDB, and inside ``streams`` only this package holds SQL. Import from
here: ``from streams.store import Store, ClickRow``.
"""

from streams.store.async_store import AsyncStore
from streams.store.deletion_trail import TrailEntry
from streams.store.deletions import DeletionRecord, PurgeResult, ShardsHolding
from streams.store.dirty_shards import DirtyMark
from streams.store.ingest import ClickRow, IngestResult, ItemRow
from streams.store.pending import Lane, LaneStats, PendingRecommendation
from streams.store.retrieval import Candidate
from streams.store.schema import SCHEMA_VERSION
from streams.store.snapshot import SNAPSHOT_FILES, DataCut, SnapshotInfo
from streams.store.store import Store
from streams.store.summaries import SummaryRow, SummaryWork

__all__ = [
    "SCHEMA_VERSION",
    "SNAPSHOT_FILES",
    "AsyncStore",
    "Candidate",
    "ClickRow",
    "DataCut",
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
]
