"""P(Yes) with K shard adapters aggregated per request (APA), on top of the prefix-cached scorer.

Serving (``serving.adapter_scorer``), the offline evaluation and the set trainer all score
through this class, so "the scores through Triton equal in-process scoring" holds by
construction. One request:

1. its context vector is the mean of its items' base-LLM vectors (a lookup);
2. the weights are APA's rule over the validation index, with excluded shards at 0 and their
   validation rows ignored;
3. the weights go into every aggregated layer, and the prefix-cached scorer runs as usual.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from models.scoring import Scorer
from models.training.aggregation import (
    AggregatedLoRALinear,
    ValidationIndex,
    WeightRule,
    attach_aggregated,
    set_weights,
)
from models.training.embeddings import Vector, context_vector

__all__ = ["AggregatedScorer", "Scored"]


@dataclass(frozen=True)
class Scored:
    probabilities: npt.NDArray[np.float32]
    weights: npt.NDArray[np.float64]  # per shard, summing to 1 (all 0: the base model)


class AggregatedScorer:
    """A :class:`Scorer` over a base model whose adapted layers hold K adapters."""

    def __init__(
        self,
        scorer: Scorer,
        adapters: Sequence[Mapping[str, torch.Tensor]],
        scalings: Sequence[float],
        index: ValidationIndex,
        rule: WeightRule,
        item_vectors: Mapping[str, Vector],
    ) -> None:
        self.scorer = scorer
        self.shards = len(adapters)
        self.layers: list[AggregatedLoRALinear] = attach_aggregated(scorer.model, adapters, scalings)
        self.index = index
        self.rule = rule
        self.item_vectors = item_vectors
        self.dim = int(scorer.model.config.hidden_size)

    def weights(
        self, context_items: Sequence[str], excluded: Collection[int] = ()
    ) -> npt.NDArray[np.float64]:
        usable = np.array([k not in excluded for k in range(self.shards)])
        if not usable.any():
            return np.zeros(self.shards)
        vector = context_vector(context_items, self.item_vectors, self.dim)
        rows = np.isin(self.index.shards, list(excluded)) if excluded else None
        return self.index.weights(vector, self.rule, usable, exclude=rows)

    def score_with(
        self, weights: npt.ArrayLike, context: str, candidates: Sequence[str]
    ) -> npt.NDArray[np.float32]:
        """P(Yes) with explicit shard weights (one-hot: a single adapter; zeros: the base model)."""
        set_weights(self.layers, weights)
        return self.scorer.score(context, candidates)

    def score(
        self,
        context: str,
        candidates: Sequence[str],
        context_items: Sequence[str] = (),
        excluded: Collection[int] = (),
    ) -> Scored:
        weights = self.weights(context_items, excluded)
        return Scored(self.score_with(weights, context, candidates), weights)
