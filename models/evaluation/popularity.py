"""Most-popular baseline: how many interactions each candidate had before the target's time.

Counted per target up to its ``cutoff_ts`` (see :mod:`models.evaluation.timeline`), so the
count includes neither the target interaction itself nor anything that happened later.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from models.evaluation.data import Target
from models.evaluation.ranker import FitData, Ranker, Scores
from models.evaluation.timeline import ItemTimeline

__all__ = ["PopularityRanker"]


class PopularityRanker(Ranker):
    name = "popularity"

    def __init__(self) -> None:
        self._timeline: ItemTimeline | None = None

    def fit(self, data: FitData) -> None:
        self._timeline = ItemTimeline(data.dataset)

    def score(self, targets: Sequence[Target], progress: bool = False) -> list[Scores]:
        if self._timeline is None:
            raise RuntimeError("PopularityRanker.score called before fit")
        timeline = self._timeline
        return [
            np.array([timeline.count_before(c, t.cutoff_ts) for c in t.candidates], dtype=np.float64)
            for t in targets
        ]

    def info(self) -> dict[str, Any]:
        return {"statistic": "interactions before the target's timestamp"}
