"""A small live store to train adapter sets from: 14 users x 12 ratings over 69 movies."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from models.training.lora import LoraSettings
from models.training.shards import ShardingConfig
from streams.store import ClickRow, DataCut, ItemRow, Store
from streams.training import read_data_cut, train_from_snapshot

__all__ = ["CONFIG", "export_cut", "fill", "publish"]

CONFIG = ShardingConfig(shards=3, max_samples=300, lora=replace(LoraSettings(), max_epochs=1))


def fill(store: Store, users: int = 14, per_user: int = 12) -> None:
    items = [
        ItemRow(str(i), f"Movie {i}", None, ("Drama",) if i % 2 else ("Comedy",), {}) for i in range(1, 70)
    ]
    store.ingest.items("items", items, {0: 1})
    rows = []
    offset = 0
    for u in range(users):
        for k in range(per_user):
            item = str((u * 7 + k * 3) % 69 + 1)
            rows.append(
                ClickRow(
                    f"u{u}-{k}",
                    f"person-{u}",
                    item,
                    "rating",
                    float((u + k) % 5 + 1),
                    1000 * k + u,
                    0,
                    offset,
                )
            )
            offset += 1
    store.ingest.clicks("clicks", rows, {0: offset})


def publish(store: Store, root: Path, tmp_path: Path, model_dir: Path) -> str:
    """Train a set from the store's current snapshot with ``CONFIG`` and make it current."""
    store.snapshots.export(tmp_path / "train-snap")
    return train_from_snapshot(tmp_path / "train-snap", root, model_dir, CONFIG)


def export_cut(store: Store, root: Path, version: str, directory: Path) -> Path:
    """What the worker exports for a rebuild of ``version``: the retained data inside its cut."""
    watermark, versions = read_data_cut(root, version)
    store.snapshots.export(directory, DataCut(watermark, versions))
    return directory
