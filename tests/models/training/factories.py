"""Small builders for synthetic catalogs, users, item vectors and random LoRA adapters."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from models.training.embeddings import Vector
from models.training.samples import (
    SampleConfig,
    SampleGroup,
    SummaryVersion,
    TrainingEvent,
    UserData,
    build_user_groups,
)
from models.types import ItemText

# (item_id, event_type, rating, ts); the seq is the row's position.
Row = tuple[str, str, float | None, int]

GENRES = ("Drama", "Comedy", "Action", "Horror", "Romance")


def make_catalog(n: int = 40) -> dict[str, ItemText]:
    """Items ``i00 .. i{n-1}`` whose titles have clearly different lengths (so token lengths differ)."""
    items = {}
    for k in range(n):
        words = " ".join(["word"] * (k % 7))
        items[f"i{k:02d}"] = ItemText(f"i{k:02d}", f"Item {k} {words}".strip(), (GENRES[k % len(GENRES)],))
    return items


def user_from_rows(key: str, rows: Sequence[Row], summaries: Sequence[SummaryVersion] = ()) -> UserData:
    """A user whose event ids are ``<key>:e<position>`` (unique across users)."""
    events = tuple(
        TrainingEvent(f"{key}:e{seq}", item, kind, rating, ts, seq)
        for seq, (item, kind, rating, ts) in enumerate(rows)
    )
    return UserData(key, events, tuple(summaries))


def random_user(key: str, item_ids: Sequence[str], seed: int, n_events: int = 8) -> UserData:
    """A user who rated ``n_events`` distinct catalog items at increasing times, ratings 1..5."""
    rng = np.random.default_rng(seed)
    items = rng.choice(len(item_ids), size=n_events, replace=False)
    ratings = rng.integers(1, 6, size=n_events)
    rows: list[Row] = [
        (item_ids[int(i)], "rating", float(r), 1000 * (k + 1))
        for k, (i, r) in enumerate(zip(items, ratings, strict=True))
    ]
    return user_from_rows(key, rows)


def random_users(n: int, item_ids: Sequence[str], seed: int = 0, n_events: int = 8) -> list[UserData]:
    return [random_user(f"user-{seed}-{k}", item_ids, seed * 100_000 + k, n_events) for k in range(n)]


def unit_vectors(item_ids: Sequence[str], dim: int = 8, seed: int = 0) -> dict[str, Vector]:
    """Seeded random L2-normalized vectors, one per item."""
    rng = np.random.default_rng(seed)
    raw = rng.normal(size=(len(item_ids), dim))
    raw /= np.linalg.norm(raw, axis=1, keepdims=True)
    return {item: raw[k] for k, item in enumerate(item_ids)}


def training_groups(n_users: int = 12, seed: int = 5) -> list[SampleGroup]:
    """A few dozen groups of synthetic users: positives with 3 negatives and lone dislikes."""
    catalog = make_catalog(40)
    order = sorted(catalog)
    config = SampleConfig(negatives_per_positive=3, max_targets_per_user=3, max_recent=3)
    return [
        g
        for u in random_users(n_users, order, seed=seed)
        for g in build_user_groups(u, catalog, order, config)
    ]


def random_adapters(model_dir: Path, count: int, seed: int) -> list[dict[str, torch.Tensor]]:
    """``count`` LoRA adapters of different seeds with non-zero random B (peft's init has B = 0)."""
    from models.loading import load_causal_lm
    from models.training.lora import LoraSettings, attach_lora, lora_tensors

    found = []
    for k in range(count):
        model, _ = load_causal_lm(model_dir)
        peft_model = attach_lora(model, LoraSettings(dropout=0.0, seed=k))
        generator = torch.Generator().manual_seed(seed + k)
        with torch.no_grad():
            for name, parameter in peft_model.named_parameters():
                if "lora_B" in name:
                    parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
        found.append(lora_tensors(peft_model))
    return found
