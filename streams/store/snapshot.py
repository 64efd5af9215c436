"""Consistent snapshots of the training data at a watermark, exported for the trainer.

Training reads a snapshot, never the live file: DuckDB allows one writer, and a training run
of minutes must not hold it or make ingestion wait. The export is one read transaction on the
store thread (a columnar copy, milliseconds per 100k rows), at watermark ``W`` = the newest
interaction ``seq`` when it starts: interactions with ``seq <= W``, the summary versions whose
chain ends at or before ``W``, and the catalog.

A snapshot holds salted user keys, never raw user ids; it is still personal data, so the
trainer deletes it when it is done.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow.parquet as pq

from streams.store.database import Database, now_ms
from streams.store.schema import read_meta

__all__ = ["SnapshotInfo", "Snapshots", "SNAPSHOT_FILES"]

SNAPSHOT_FILES = ("interactions.parquet", "items.parquet", "summaries.parquet")


@dataclass(frozen=True)
class SnapshotInfo:
    path: str
    watermark: int  # every interaction with seq <= watermark, nothing newer
    interactions: int
    items: int
    summaries: int
    created_at: int


class Snapshots:
    def __init__(self, db: Database) -> None:
        self._db = db

    def export(self, directory: Path) -> SnapshotInfo:
        """Write the snapshot files and ``snapshot.json`` into ``directory`` (created)."""
        directory.mkdir(parents=True, exist_ok=True)
        con = self._db.con
        salt = read_meta(con, "user_key_salt", self._db.path)
        with self._db.transaction() as tx:
            # fetchall: DuckDB refuses new work on a connection with a partly fetched result.
            watermark = int(tx.execute("SELECT coalesce(max(seq), 0) FROM interactions").fetchall()[0][0])
            # The user key is computed in SQL exactly as Database.user_key does in Python.
            interactions = tx.sql(
                """
                SELECT sha256(? || ':' || user_id) AS user_key, event_id, item_id, event_type, rating, ts, seq
                FROM interactions WHERE seq <= ? ORDER BY seq
                """,
                params=[salt, watermark],
            ).to_arrow_table()
            items = tx.sql(
                "SELECT item_id, title, description, categories FROM items ORDER BY item_id"
            ).to_arrow_table()
            summaries = tx.sql(
                """
                SELECT sha256(? || ':' || user_id) AS user_key, version, summary, through_seq
                FROM summaries WHERE through_seq <= ? ORDER BY user_id, version
                """,
                params=[salt, watermark],
            ).to_arrow_table()
        for name, table in zip(SNAPSHOT_FILES, (interactions, items, summaries), strict=True):
            pq.write_table(table, directory / name)
        info = SnapshotInfo(
            path=str(directory),
            watermark=watermark,
            interactions=interactions.num_rows,
            items=items.num_rows,
            summaries=summaries.num_rows,
            created_at=now_ms(),
        )
        with open(directory / "snapshot.json", "w", encoding="utf-8") as f:
            json.dump(asdict(info), f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        return info
