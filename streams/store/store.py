"""The DuckDB store of one worker: one connection, split into one object per guarantee.

``Store`` is only the front door. Each concept's SQL lives in its own module, so a reviewer
reads every statement of one guarantee in one file:

=================  ==========================================================
``store.ingest``    idempotent ingestion of clicks and items, with offsets
``store.pending``   the durable "needs a fresh recommendation" queue
``store.retrieval`` history and candidates for a ranking
``store.deletions`` the deletion ledger and the purge (tombstones in ``tombstones``)
``store.dirty``     adapter shards that learned from deleted data, until retrained
``store.trail``     the audit trail of each deletion request, step by step
``store.summaries`` the recurrent preference-summary chains
``store.audit``     row counts and "is this value anywhere?"
``store.snapshots`` consistent exports of the training data at a watermark
=================  ==========================================================

They all share one :class:`~streams.store.database.Database`, the single writer and the one
place that opens transactions. Not thread-safe: the worker calls it from one dedicated thread
(:class:`~streams.store.async_store.AsyncStore`).
"""

from __future__ import annotations

from pathlib import Path

from streams.store.audit import Audit
from streams.store.database import Database
from streams.store.deletion_trail import DeletionTrail
from streams.store.deletions import Deletions
from streams.store.dirty_shards import DirtyShards
from streams.store.ingest import Ingest
from streams.store.pending import Pending
from streams.store.retrieval import Retrieval
from streams.store.snapshot import Snapshots
from streams.store.summaries import Summaries

__all__ = ["Store"]


class Store:
    """All reads and writes of ``streamrec.duckdb``."""

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self._db = Database(path, read_only=read_only)
        self.path = self._db.path
        self.ingest = Ingest(self._db)
        self.pending = Pending(self._db)
        self.retrieval = Retrieval(self._db)
        self.deletions = Deletions(self._db)
        self.dirty = DirtyShards(self._db)
        self.trail = DeletionTrail(self._db)
        self.summaries = Summaries(self._db)
        self.audit = Audit(self._db)
        self.snapshots = Snapshots(self._db)

    def user_key(self, user_id: str) -> str:
        """Salted hash of a user id: lets tombstones match a user without keeping the id."""
        return self._db.user_key(user_id)

    def close(self) -> None:
        self._db.close()
