"""Item-kNN: score a candidate by its co-occurrence with the user's recent items.

``sim(c, h) = |U_c ∩ U_h| / sqrt(|U_c| * |U_h|)`` (cosine on binary user vectors), where U_x
is the set of users who interacted with x strictly before the target's ``cutoff_ts``; a
candidate scores ``sum of sim(c, h)`` over the newest ``window`` items h of the history.

The window is the one hyper-parameter. It is chosen on the validation targets by NDCG@10
(ties go to the smaller window) and then frozen for the test targets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from tqdm import tqdm

from models.evaluation.data import Target
from models.evaluation.metrics import metric_table, positive_rank
from models.evaluation.ranker import FitData, Ranker, Scores
from models.evaluation.timeline import ItemTimeline

__all__ = ["ItemKNNRanker"]


class ItemKNNRanker(Ranker):
    name = "itemknn"

    def __init__(self, windows: Sequence[int] = (5, 20, 50, 200)) -> None:
        if not windows or any(w < 1 for w in windows):
            raise ValueError(f"ItemKNNRanker.windows must be positive integers, got {windows!r}")
        self.windows = tuple(sorted(windows))
        self.window = self.windows[-1]
        self.validation_ndcg: dict[int, float] = {}
        self._timeline: ItemTimeline | None = None

    @staticmethod
    def _user_matrix(timeline: ItemTimeline, items: Sequence[str], cutoff_ts: int) -> np.ndarray:
        matrix = np.zeros((len(items), timeline.n_users), dtype=np.float32)
        for row, item in enumerate(items):
            matrix[row, timeline.users_before(item, cutoff_ts)] = 1.0
        return matrix

    def _score(self, timeline: ItemTimeline, target: Target, window: int) -> Scores:
        recent = list(dict.fromkeys(i.item_id for i in reversed(target.history)))[:window]
        candidates = self._user_matrix(timeline, target.candidates, target.cutoff_ts)
        history = self._user_matrix(timeline, recent, target.cutoff_ts)
        co = candidates @ history.T  # [n_candidates, window]
        norms = np.sqrt(np.outer(candidates.sum(axis=1), history.sum(axis=1)))
        sim = np.divide(co, norms, out=np.zeros_like(co), where=norms > 0)
        return sim.sum(axis=1).astype(np.float64)

    def fit(self, data: FitData) -> None:
        timeline = self._timeline = ItemTimeline(data.dataset)
        # A refit starts over: nothing tuned on an earlier FitData may survive.
        self.window = self.windows[-1]
        self.validation_ndcg = {}
        if not data.validation:
            return
        for window in self.windows:
            ranks = [
                positive_rank(self._score(timeline, t, window), t.positive_index) for t in data.validation
            ]
            self.validation_ndcg[window] = float(metric_table(ranks)["ndcg@10"].mean())
        best = max(self.validation_ndcg.values())
        self.window = min(w for w, v in self.validation_ndcg.items() if v == best)

    def score(self, targets: Sequence[Target], progress: bool = False) -> list[Scores]:
        timeline = self._timeline
        if timeline is None:
            raise RuntimeError("ItemKNNRanker.score called before fit")
        return [
            self._score(timeline, t, self.window) for t in tqdm(targets, desc="itemknn", disable=not progress)
        ]

    def info(self) -> dict[str, Any]:
        return {
            "similarity": "cosine on binary user vectors, before the target's timestamp",
            "window_grid": list(self.windows),
            "window": self.window,
            "validation_ndcg@10": {str(k): v for k, v in self.validation_ndcg.items()},
        }
