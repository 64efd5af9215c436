"""Consistent snapshots of the training data at a watermark, exported for the trainer.

Training reads a snapshot, never the live file: DuckDB allows one writer, and a training run
of minutes must not hold it or make ingestion wait. The export is one read transaction on the
store thread (a columnar copy, milliseconds per 100k rows), at watermark ``W`` = the newest
interaction ``seq`` when it starts: interactions with ``seq <= W``, the summary versions whose
chain ends at or before ``W``, and the catalog.

**Data cuts.** A snapshot can also be taken *at a recorded cut*: an older watermark and, per
user key, the newest summary version a set was trained with. Summaries are written after the
interactions they cover, so ``through_seq <= W`` alone would let a summary made after training
slip into a later "from scratch" rebuild of that set; the per-user version cut keeps it out. The
cut a snapshot used is written to ``snapshot.json`` and travels into the adapter set, so
``streamrec adapters verify`` can rebuild exactly the retained part of the same data.

It also lists the deletion requests already purged when it was taken: a set trained from it
cannot hold their data, while any request purged later may be in it (the worker marks such a
set's shards dirty when it is published).

A snapshot holds salted user keys, never raw user ids; it is still personal data, so the
trainer deletes it when it is done.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from streams.store.database import Database, now_ms
from streams.store.schema import read_meta

__all__ = ["DataCut", "SnapshotInfo", "Snapshots", "SNAPSHOT_FILES"]

SNAPSHOT_FILES = ("interactions.parquet", "items.parquet", "summaries.parquet")


@dataclass(frozen=True)
class DataCut:
    """Which data a training run saw: interactions up to ``watermark``, and per user key the
    summary versions up to ``summary_versions[key]`` (users absent from it: none)."""

    watermark: int
    summary_versions: Mapping[str, int]

    def __post_init__(self) -> None:
        if isinstance(self.watermark, bool) or not isinstance(self.watermark, int) or self.watermark < 0:
            raise ValueError(f"DataCut.watermark must be an integer >= 0, got {self.watermark!r}")
        bad = {
            k: v for k, v in self.summary_versions.items() if isinstance(v, bool) or not isinstance(v, int)
        }
        if bad:
            raise ValueError(f"DataCut.summary_versions must map user keys to integers, got {bad!r}")


@dataclass(frozen=True)
class SnapshotInfo:
    path: str
    watermark: int  # every interaction with seq <= watermark, nothing newer
    interactions: int
    items: int
    summaries: int
    created_at: int
    # The newest dirty-shard mark when the data was read: a set trained from this snapshot is
    # clean of every deletion up to it, so publishing it may clear the marks up to this id.
    dirty_high_water: int = 0


def _key_versions(summaries: pa.Table) -> list[tuple[str, int]]:
    keys = summaries.column("user_key").to_pylist()
    return [(str(k), int(v)) for k, v in zip(keys, summaries.column("version").to_pylist(), strict=True)]


class Snapshots:
    def __init__(self, db: Database) -> None:
        self._db = db

    def export(self, directory: Path, cut: DataCut | None = None) -> SnapshotInfo:
        """Write the snapshot files and ``snapshot.json`` into ``directory`` (created).

        Without ``cut``: everything up to the current watermark. With it: exactly the retained
        data inside that cut (rows deleted since are gone; rows added since are not included).
        """
        directory.mkdir(parents=True, exist_ok=True)
        con = self._db.con
        salt = read_meta(con, "user_key_salt", self._db.path)
        with self._db.transaction() as tx:
            # fetchall: DuckDB refuses new work on a connection with a partly fetched result.
            current = int(tx.execute("SELECT coalesce(max(seq), 0) FROM interactions").fetchall()[0][0])
            watermark = current if cut is None else cut.watermark
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
            # Deletions already purged are absent from this data; any purged later may not be.
            purged = sorted(
                str(r[0])
                for r in tx.execute(
                    "SELECT request_id FROM deletion_requests WHERE stage = 'purged'"
                ).fetchall()
            )
            high_water = int(
                tx.execute("SELECT coalesce(max(mark_id), 0) FROM dirty_shards").fetchall()[0][0]
            )
            summaries = tx.sql(
                """
                SELECT sha256(? || ':' || user_id) AS user_key, version, summary, through_seq
                FROM summaries WHERE through_seq <= ? ORDER BY user_id, version
                """,
                params=[salt, watermark],
            ).to_arrow_table()
        if cut is not None:
            pairs = _key_versions(summaries)
            keep = [version <= cut.summary_versions.get(key, 0) for key, version in pairs]
            summaries = summaries.filter(pa.array(keep, type=pa.bool_()))
        used: dict[str, int] = {}
        for key, version in _key_versions(summaries):
            used[key] = max(used.get(key, 0), version)
        for name, table in zip(SNAPSHOT_FILES, (interactions, items, summaries), strict=True):
            pq.write_table(table, directory / name)
        info = SnapshotInfo(
            path=str(directory),
            watermark=watermark,
            interactions=interactions.num_rows,
            items=items.num_rows,
            summaries=summaries.num_rows,
            created_at=now_ms(),
            dirty_high_water=high_water,
        )
        with open(directory / "snapshot.json", "w", encoding="utf-8") as f:
            json.dump(
                {**asdict(info), "summary_versions": dict(sorted(used.items())), "purged_requests": purged},
                f,
                indent=2,
            )
            f.flush()
            os.fsync(f.fileno())
        return info
