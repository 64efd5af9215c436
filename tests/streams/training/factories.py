"""A small live store to train adapter sets from: 14 users x 12 ratings over 69 movies."""

from __future__ import annotations

from dataclasses import replace

from models.training.lora import LoraSettings
from models.training.shards import ShardingConfig
from streams.store import ClickRow, ItemRow, Store

__all__ = ["CONFIG", "fill"]

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
