"""P(Yes) with K shard adapters aggregated per request (APA), on top of the prefix-cached scorer.

Serving (``serving.adapter_scorer``), the offline evaluation and the set trainer all score
through this class, so "the scores through Triton equal in-process scoring" holds by
construction. One request:

1. its context vector is the mean of its items' base-LLM vectors (a lookup);
2. the weights are APA's rule over the validation index, with excluded shards at 0 and their
   validation rows ignored;
3. the weights go into every aggregated layer, and the prefix-cached scorer runs as usual.

``score_many`` serves several requests in one call (for GPU throughput): each request gets its
own weights as above, and the layers take them per batch row (``set_row_weights``), set by a
hook the scorer calls before every forward pass with the request of each row.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from models.scoring import Scorer, UserRequest
from models.training.aggregation import (
    AggregatedLoRALinear,
    ValidationIndex,
    WeightRule,
    attach_aggregated,
    set_row_weights,
    set_weights,
)
from models.training.embeddings import Vector, context_vector

__all__ = ["AdapterRequest", "AggregatedScorer", "Scored"]


@dataclass(frozen=True)
class Scored:
    probabilities: npt.NDArray[np.float32]
    weights: npt.NDArray[np.float64]  # per shard, summing to 1 (all 0: the base model)


@dataclass(frozen=True)
class AdapterRequest:
    """One request of :meth:`AggregatedScorer.score_many`; the arguments of ``score``."""

    context: str
    candidates: tuple[str, ...]
    context_items: tuple[str, ...] = ()  # item ids behind the context: they pick the weights


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

    def score_many(self, requests: Sequence[AdapterRequest], excluded: Collection[int] = ()) -> list[Scored]:
        """:meth:`score` for each request, in one batched call; results in request order.

        Each result equals ``score`` of that request alone up to float rounding. ``excluded``
        applies to every request. The layers end with all-zero weights (the base model), the
        state ``attach_aggregated`` leaves them in, never in row mode.
        """
        if not requests:
            return []
        weights = [self.weights(request.context_items, excluded) for request in requests]
        matrix = np.stack(weights)  # [requests, K]

        def before_pass(row_requests: torch.Tensor) -> None:
            set_row_weights(self.layers, matrix[row_requests.numpy()])

        try:
            probabilities = self.scorer.score_many(
                [UserRequest(request.context, request.candidates) for request in requests],
                before_pass=before_pass,
            )
        finally:
            # A later plain forward pass (score_with, training) must not meet stale row weights.
            set_weights(self.layers, np.zeros(self.shards))
        return [Scored(p, w) for p, w in zip(probabilities, weights, strict=True)]
