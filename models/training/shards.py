"""A whole adapter set: assign users to shards, build each shard's samples, train, index, tune.

Each step keeps the property that makes unlearning exact and cheap: **a shard's training
data is a function of that shard's users alone**.

1. Users go to shards with a :class:`~models.training.partition.Partitioner` (own data only).
2. Each user's sample groups come from ``samples.build_user_groups`` (own data only).
3. The sample budget (``max_samples``, APA and TALLRec used 1,024) is split evenly over the
   shards. Inside a shard, users enter in the order of a seeded hash of their key until the
   budget is full, so removing a user changes only their own shard's selection.
4. Every adapter predicts every validation sample; with the context vectors this is the
   :class:`~models.training.aggregation.ValidationIndex`.
5. ``n`` and ``tau`` of the weight rule are tuned on validation only, leave-one-user-out: a
   sample's weights never use its own user's rows. The tuning scores the weighted mixture of
   the adapters' predictions, a cheap stand-in for scoring the aggregated parameters once per
   (n, tau); serving applies the parameter-level sum.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from models.training.aggregation import ValidationIndex, WeightRule
from models.training.embeddings import Vector, context_vector
from models.training.lora import LoraSettings, auc
from models.training.partition import PARTITIONS, Partitioner
from models.training.samples import SampleConfig, SampleGroup, UserData, build_user_groups, liked_items
from models.types import ItemText

__all__ = [
    "ShardingConfig",
    "Shard",
    "assign_users",
    "build_shards",
    "build_index",
    "tune_rule",
]


@dataclass(frozen=True)
class ShardingConfig:
    shards: int = 4  # K; APA: 1,024 samples in shards of 256
    partition: str = "semantic"
    max_samples: int | None = 1024  # training + validation samples over all shards; None = all
    seed: int = 0
    samples: SampleConfig = field(default_factory=SampleConfig)
    lora: LoraSettings = field(default_factory=LoraSettings)
    neighbours_grid: tuple[int, ...] = (5, 10, 20, 50)
    tau_grid: tuple[float, ...] = (0.0, 10.0, 100.0, 1000.0)

    def __post_init__(self) -> None:
        if isinstance(self.shards, bool) or not isinstance(self.shards, int) or self.shards < 1:
            raise ValueError(f"ShardingConfig.shards must be a positive integer, got {self.shards!r}")
        if self.max_samples is not None and (
            isinstance(self.max_samples, bool) or self.max_samples < self.shards
        ):
            raise ValueError(
                "ShardingConfig.max_samples must be None or at least the shard count, "
                f"got {self.max_samples!r}"
            )
        if self.partition not in PARTITIONS:
            raise ValueError(f"ShardingConfig.partition must be one of {PARTITIONS}, got {self.partition!r}")
        if not self.neighbours_grid or not self.tau_grid:
            raise ValueError("ShardingConfig: the n and tau grids must not be empty")

    @property
    def budget_per_shard(self) -> int | None:
        return None if self.max_samples is None else math.ceil(self.max_samples / self.shards)


@dataclass(frozen=True)
class Shard:
    shard: int
    user_keys: tuple[str, ...]  # users whose samples are in this shard
    assigned_users: int  # users the partition put here, selected or not
    train: tuple[SampleGroup, ...]
    validation: tuple[SampleGroup, ...]

    @property
    def samples(self) -> int:
        return sum(len(g.samples) for g in (*self.train, *self.validation))

    def sample_ids(self) -> list[str]:
        return sorted(s.sample_id for g in (*self.train, *self.validation) for s in g.samples)

    def sample_digest(self) -> str:
        """sha256 over the sorted sample ids and their splits: the identity of the training data."""
        rows = sorted(f"{s.sample_id}:{g.split}" for g in (*self.train, *self.validation) for s in g.samples)
        return hashlib.sha256("\n".join(rows).encode()).hexdigest()

    def content_digest(self) -> str:
        """sha256 over everything training and the index read: contexts, candidates, labels.

        Sample ids name (user, target, candidate) only, so an item-level deletion that removes
        an event from a user's history changes a context without changing any id. Reusing a
        published adapter is exact only when this digest is equal.
        """
        sha = hashlib.sha256()
        groups = sorted(
            (*self.train, *self.validation), key=lambda g: (g.user_key, g.target_event_id, g.split)
        )
        for g in groups:
            head = [g.user_key, g.target_event_id, g.split, g.context, list(g.context_item_ids)]
            sha.update(json.dumps(head).encode())
            for s in g.samples:
                sha.update(json.dumps([s.sample_id, s.item_id, s.candidate, s.label]).encode())
        return sha.hexdigest()


def assign_users(
    users: Sequence[UserData],
    partitioner: Partitioner,
    item_vectors: Mapping[str, Vector],
    samples: SampleConfig,
) -> dict[str, int]:
    """user key -> shard, each from the user's own liked items."""
    return {u.user_key: partitioner.shard(u.user_key, liked_items(u, samples), item_vectors) for u in users}


def _entry_order(user_key: str, seed: int) -> str:
    return hashlib.sha256(f"entry\x1f{seed}\x1f{user_key}".encode()).hexdigest()


def build_shards(
    users: Sequence[UserData],
    catalog: Mapping[str, ItemText],
    catalog_order: Sequence[str],
    assignment: Mapping[str, int],
    config: ShardingConfig,
) -> list[Shard]:
    """Each shard's train and validation groups, within the per-shard sample budget."""
    by_shard: dict[int, list[UserData]] = {k: [] for k in range(config.shards)}
    for user in users:
        by_shard[assignment[user.user_key]].append(user)
    budget = config.budget_per_shard
    shards: list[Shard] = []
    for k in range(config.shards):
        members = sorted(by_shard[k], key=lambda u: _entry_order(u.user_key, config.seed))
        selected: list[str] = []
        train: list[SampleGroup] = []
        validation: list[SampleGroup] = []
        used = 0
        for user in members:
            groups = build_user_groups(user, catalog, catalog_order, config.samples)
            size = sum(len(g.samples) for g in groups)
            if not groups:
                continue
            if budget is not None and used + size > budget:
                continue  # a smaller user later in the order may still fit
            used += size
            selected.append(user.user_key)
            train.extend(g for g in groups if g.split == "train")
            validation.extend(g for g in groups if g.split == "validation")
        shards.append(Shard(k, tuple(selected), len(members), tuple(train), tuple(validation)))
    return shards


def build_index(
    shards: Sequence[Shard],
    item_vectors: Mapping[str, Vector],
    dim: int,
    predict: Callable[[int, SampleGroup], Sequence[float]],
) -> ValidationIndex:
    """Every adapter's prediction on every validation sample; ``predict(k, group)`` scores one."""
    sample_ids: list[str] = []
    user_keys: list[str] = []
    shard_of: list[int] = []
    vectors: list[Vector] = []
    labels: list[int] = []
    predictions: list[list[float]] = []
    for shard in shards:
        for group in sorted(shard.validation, key=lambda g: g.samples[0].sample_id):
            per_adapter = [list(predict(k, group)) for k in range(len(shards))]
            vector = context_vector(group.context_item_ids, item_vectors, dim)
            for j, sample in enumerate(group.samples):
                sample_ids.append(sample.sample_id)
                user_keys.append(group.user_key)
                shard_of.append(shard.shard)
                vectors.append(vector)
                labels.append(sample.label)
                predictions.append([per_adapter[k][j] for k in range(len(shards))])
    k = len(shards)
    return ValidationIndex(
        sample_ids=tuple(sample_ids),
        user_keys=tuple(user_keys),
        shards=np.asarray(shard_of, dtype=np.int64),
        vectors=np.stack(vectors) if vectors else np.zeros((0, dim)),
        labels=np.asarray(labels, dtype=np.int64),
        predictions=np.asarray(predictions, dtype=np.float64).reshape(len(sample_ids), k),
    )


def tune_rule(
    index: ValidationIndex, config: ShardingConfig, usable: npt.NDArray[np.bool_] | None = None
) -> tuple[WeightRule, dict[str, float]]:
    """The (n, tau) with the best leave-one-user-out validation AUC, and every grid point's AUC.

    Ties keep the earlier grid point (smaller n, then smaller tau), so the choice is stable.
    When no grid point has an AUC (validation labels all alike, or no validation samples), there
    is no evidence for sharper weights, so the rule is equal weights (tau = 0) at the first n.
    """
    k = index.predictions.shape[1]
    usable = np.ones(k, dtype=bool) if usable is None else usable
    users = np.asarray(index.user_keys)
    table: dict[str, float] = {}
    best: tuple[float, WeightRule] | None = None
    for n in config.neighbours_grid:
        for tau in config.tau_grid:
            rule = WeightRule(neighbours=n, tau=tau)
            mixed = np.empty(len(users))
            for i in range(len(users)):
                weights = index.weights(index.vectors[i], rule, usable, exclude=users == users[i])
                mixed[i] = float(index.predictions[i] @ weights)
            score = auc(index.labels.tolist(), mixed.tolist())
            value = float("nan") if score is None else score
            table[f"n={n},tau={tau:g}"] = value
            if score is not None and (best is None or score > best[0]):
                best = (score, rule)
    fallback = WeightRule(neighbours=config.neighbours_grid[0], tau=0.0)
    return (best[1] if best is not None else fallback), table
