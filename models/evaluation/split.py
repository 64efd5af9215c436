"""The leave-last-positive split and the shared candidate sample (LLM-TRSR protocol).

Per user, in time order:

- test target: the last interaction rated >= ``min_rating``;
- validation target: the previous interaction rated >= ``min_rating``;
- history of a target: every interaction with a timestamp strictly before the target's.

"Strictly before" rather than "earlier in the file": MovieLens users often rate many movies
in the same second, and an interaction stamped at the target's own time is not known to have
happened before it, so it must not leak into the history.

Candidates are the positive plus ``n_negatives`` items drawn uniformly, without replacement,
from items the user never interacted with (at any time). The draw for a (user, split) is
seeded by (seed, user, split) only, so it is the same for every model, for every run with
the same seed, and whatever subset of users a run evaluates.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.evaluation.data import Dataset, Interaction, Target, natural_key

__all__ = ["SplitConfig", "build_targets", "sample_users", "target_rng"]


@dataclass(frozen=True)
class SplitConfig:
    min_rating: float = 4.0  # "liked" in LLM-TRSR's MovieLens setup
    n_negatives: int = 20  # 21 candidates per target, as in the paper
    seed: int = 0

    def __post_init__(self) -> None:
        if not math.isfinite(self.min_rating):
            raise ValueError(f"SplitConfig.min_rating must be finite, got {self.min_rating!r}")
        if (
            isinstance(self.n_negatives, bool)
            or not isinstance(self.n_negatives, int)
            or self.n_negatives < 1
        ):
            raise ValueError(f"SplitConfig.n_negatives must be a positive integer, got {self.n_negatives!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"SplitConfig.seed must be an integer >= 0, got {self.seed!r}")


def target_rng(seed: int, user_id: str, split: str, purpose: str = "negatives") -> np.random.Generator:
    """A generator that depends only on (seed, user, split, purpose), never on run order."""
    return np.random.default_rng([seed, zlib.crc32(f"{purpose}|{user_id}|{split}".encode())])


def _liked(interaction: Interaction, min_rating: float) -> bool:
    return interaction.rating is not None and interaction.rating >= min_rating


def _target(
    user: str,
    split: str,
    history: Sequence[Interaction],
    index: int,
    universe: Sequence[str],
    config: SplitConfig,
) -> Target | None:
    positive = history[index]
    cutoff = positive.ts
    before = tuple(i for i in history if i.ts < cutoff)
    if not before:
        return None
    seen = {i.item_id for i in history}
    pool = [item for item in universe if item not in seen]
    if len(pool) < config.n_negatives:
        return None
    rng = target_rng(config.seed, user, split)
    negatives = [pool[j] for j in rng.choice(len(pool), size=config.n_negatives, replace=False)]
    candidates = [positive.item_id, *negatives]
    order = target_rng(config.seed, user, split, "order").permutation(len(candidates))
    return Target(
        user_id=user,
        split=split,
        positive=positive.item_id,
        candidates=tuple(candidates[j] for j in order),
        history=before,
        cutoff_ts=cutoff,
    )


def build_targets(dataset: Dataset, config: SplitConfig = SplitConfig()) -> list[Target]:
    """Validation and test targets of every user that has both, users in natural id order.

    A user is skipped when they have fewer than two liked interactions, or when a target
    has an empty history (everything else shares its timestamp).
    """
    universe = dataset.interacted_items()
    targets: list[Target] = []
    for user in sorted(dataset.histories, key=natural_key):
        history = dataset.histories[user]
        liked = [k for k, i in enumerate(history) if _liked(i, config.min_rating)]
        if len(liked) < 2:
            continue
        validation = _target(user, "validation", history, liked[-2], universe, config)
        test = _target(user, "test", history, liked[-1], universe, config)
        if validation is not None and test is not None:
            targets.extend([validation, test])
    return targets


def sample_users(users: Sequence[str], n: int | None, seed: int) -> list[str]:
    """``n`` users drawn without replacement by ``seed`` (all when n is None), in input order."""
    if n is None or n >= len(users):
        return list(users)
    if n < 1:
        raise ValueError(f"sample_users: n must be >= 1, got {n}")
    picked = set(np.random.default_rng([seed, 0x5EED]).choice(len(users), size=n, replace=False).tolist())
    return [u for k, u in enumerate(users) if k in picked]
