"""What every compared model implements, and the training data it may use.

A ranker is fitted once per run on :class:`FitData` and then scores targets: one float per
candidate, higher is better, aligned with ``Target.candidates``. Rankers never see the
positive's position; the metrics are computed outside, from the scores alone.

Leakage rules live in the data, not in each model: ``FitData.training_history`` cuts every
user's interactions at their earliest target, and ``Target.cutoff_ts`` bounds the per-target
statistics (popularity, co-occurrence) computed from other users' interactions.

A trained model (SASRec) is fitted once for all targets, as in the paper's protocol: it sees
no interaction at or after any of a user's own targets, but it may see *other* users'
interactions that happened after a given target's time. Only the count-based models can
afford a per-target time cut; the report states this.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from models.evaluation.data import Dataset, Interaction, Target

__all__ = ["FitData", "Ranker", "Scores"]

Scores = npt.NDArray[np.float64]


@dataclass(frozen=True)
class FitData:
    """Everything a ranker may learn from.

    ``train_cutoffs[user]`` is the timestamp of that user's earliest target; users without a
    target are absent and contribute their whole history. ``validation`` holds the validation
    targets of the evaluated users: the only targets a ranker may tune on.
    """

    dataset: Dataset
    train_cutoffs: Mapping[str, int]
    validation: Sequence[Target]

    def __post_init__(self) -> None:
        wrong = [t.key for t in self.validation if t.split != "validation"]
        if wrong:
            raise ValueError(f"FitData.validation may only hold validation targets, got {wrong[:3]!r}")

    def training_history(self, user_id: str) -> tuple[Interaction, ...]:
        history = self.dataset.histories.get(user_id, ())
        cutoff = self.train_cutoffs.get(user_id)
        if cutoff is None:
            return history
        return tuple(i for i in history if i.ts < cutoff)

    @staticmethod
    def cutoffs_from(targets: Sequence[Target]) -> dict[str, int]:
        cutoffs: dict[str, int] = {}
        for target in targets:
            cutoffs[target.user_id] = min(cutoffs.get(target.user_id, target.cutoff_ts), target.cutoff_ts)
        return cutoffs


class Ranker(ABC):
    """A model under evaluation. ``name`` is the id used in reports and on the command line."""

    name: ClassVar[str]

    def fit(self, data: FitData) -> None:  # noqa: B027 - most baselines have nothing to learn
        """Learn from ``data``; the default learns nothing."""

    @abstractmethod
    def score(self, targets: Sequence[Target], progress: bool = False) -> list[Scores]:
        """One score array per target, aligned with its candidates."""

    def info(self) -> dict[str, Any]:
        """Hyper-parameters and anything tuned or measured while fitting, for the report."""
        return {}
