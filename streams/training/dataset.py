"""A snapshot's parquet files as the training library's inputs: users, catalog, watermark.

Pure reading: the snapshot already carries salted user keys, so nothing here ever sees a raw
user id. The catalog digest identifies the catalog a set was trained on; retraining from
scratch must use the same catalog to reproduce a shard byte for byte.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from models.training.samples import SummaryVersion, TrainingEvent, UserData
from models.types import ItemText

__all__ = ["TrainingData", "read_snapshot"]


@dataclass(frozen=True)
class TrainingData:
    users: tuple[UserData, ...]  # sorted by user key
    catalog: dict[str, ItemText]
    catalog_order: tuple[str, ...]  # the negative-sampling universe, sorted
    watermark: int
    catalog_digest: str
    summary_versions: dict[str, int]  # the data cut's summary part: newest version used per user key
    purged_requests: tuple[str, ...] = ()  # deletions already purged when the snapshot was taken
    dirty_high_water: int = 0  # the newest dirty-shard mark then (``streams.store.snapshot``)


def _catalog_digest(catalog: dict[str, ItemText], order: tuple[str, ...]) -> str:
    sha = hashlib.sha256()
    for item_id in order:
        item = catalog[item_id]
        sha.update(json.dumps([item.item_id, item.title, list(item.categories), item.description]).encode())
        sha.update(b"\n")
    return sha.hexdigest()


def read_snapshot(directory: Path, catalog_file: Path | None = None) -> TrainingData:
    """The snapshot in ``directory``; ``catalog_file`` replaces its catalog (a set's own copy,
    when a set is rebuilt from scratch: the live catalog may have grown since)."""
    info = json.loads((directory / "snapshot.json").read_text(encoding="utf-8"))
    catalog: dict[str, ItemText] = {}
    for row in pq.read_table(catalog_file or directory / "items.parquet").to_pylist():
        catalog[row["item_id"]] = ItemText(
            item_id=row["item_id"],
            title=row["title"],
            categories=tuple(row["categories"] or ()),
            description=row["description"],
        )
    order = tuple(sorted(catalog))
    events: dict[str, list[TrainingEvent]] = defaultdict(list)
    for row in pq.read_table(directory / "interactions.parquet").to_pylist():
        events[row["user_key"]].append(
            TrainingEvent(
                row["event_id"], row["item_id"], row["event_type"], row["rating"], row["ts"], row["seq"]
            )
        )
    summaries: dict[str, list[SummaryVersion]] = defaultdict(list)
    for row in pq.read_table(directory / "summaries.parquet").to_pylist():
        # A chain version covers every interaction of the user up to its through_seq.
        covered = [e for e in events[row["user_key"]] if e.seq <= row["through_seq"]]
        if covered:
            summaries[row["user_key"]].append(
                SummaryVersion(
                    version=row["version"],
                    text=row["summary"],
                    covered_event_ids=tuple(e.event_id for e in covered),
                    through_ts=max(e.ts for e in covered),
                )
            )
    users = tuple(
        UserData(user_key=key, events=tuple(events[key]), summaries=tuple(summaries.get(key, ())))
        for key in sorted(events)
    )
    return TrainingData(
        users,
        catalog,
        order,
        int(info["watermark"]),
        _catalog_digest(catalog, order),
        {str(k): int(v) for k, v in info.get("summary_versions", {}).items()},
        tuple(str(r) for r in info.get("purged_requests", ())),
        int(info.get("dirty_high_water", 0)),
    )
