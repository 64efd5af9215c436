"""The floor: uniform random scores, seeded per target so every run draws the same ones.

With pessimistic ties and 21 candidates its expected Recall@10 is 10/21 = 0.476; a model
that does not clearly beat that has learned nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from models.evaluation.data import Target
from models.evaluation.ranker import Ranker, Scores
from models.evaluation.split import target_rng

__all__ = ["RandomRanker"]


class RandomRanker(Ranker):
    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def score(self, targets: Sequence[Target], progress: bool = False) -> list[Scores]:
        return [
            target_rng(self.seed, t.user_id, t.split, "random").random(len(t.candidates)) for t in targets
        ]

    def info(self) -> dict[str, Any]:
        return {"seed": self.seed}
