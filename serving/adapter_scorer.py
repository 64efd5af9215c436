"""Scoring with the current adapter set: the base LM plus K shard adapters weighted per request.

This is what the Triton ``recommender`` runs, kept free of Triton so tests and benchmarks use
the identical code in-process.

**Switching sets: an in-model version check.** Before each request the scorer reads the
``CURRENT`` pointer (a few bytes). When it names a new version, the scorer loads that set's
adapters into its aggregated layers and answers the request with it. Loading happens between
two requests on the model's own thread, so no request fails or is dropped, none is scored
with a mix of two sets, and every answer names the set that produced it. Triton's EXPLICIT
model-control reload would work too, but it reloads the base LM and needs a control-plane call
from the trainer; the pointer needs only the shared data directory. A set that fails to load
is logged and the previous one keeps serving.

**Per request**, the APA weights come from the context's items (their base-LLM vectors, stored
with the set) and the validation index. Shards listed as excluded (dirty after a deletion) get
weight 0, their validation rows are ignored, and the rest are renormalized.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.scoring import Scorer, UserRequest
from models.training.aggregation import ValidationIndex, WeightRule
from models.training.apa_scorer import AdapterRequest, AggregatedScorer
from models.training.lora import load_adapter_file
from serving.adapters import read_current, read_item_vectors, read_manifest, read_validation

__all__ = ["ZERO_SHOT", "AdapterScorer", "LoadedSet", "ScoredMany", "ScoredWithSet", "load_set"]

log = logging.getLogger(__name__)

ZERO_SHOT = "zero-shot"  # the version name when no adapter set is served


@dataclass(frozen=True)
class LoadedSet:
    version: str
    manifest: dict[str, Any]
    adapters: list[dict[str, Any]]
    scalings: list[float]
    index: ValidationIndex
    rule: WeightRule
    item_vectors: dict[str, npt.NDArray[np.float64]]


@dataclass(frozen=True)
class ScoredWithSet:
    probabilities: npt.NDArray[np.float32]
    version: str  # the adapter set that produced them, or ZERO_SHOT
    weights: npt.NDArray[np.float64]  # per shard; empty for ZERO_SHOT


@dataclass(frozen=True)
class ScoredMany:
    """One cross-user call: every user's probabilities, all from the same set."""

    probabilities: list[npt.NDArray[np.float32]]  # one array per user, in request order
    version: str  # the adapter set that produced them, or ZERO_SHOT
    weights: npt.NDArray[np.float64]  # [users, K]; [users, 0] for ZERO_SHOT


def load_set(root: Path, version: str) -> LoadedSet:
    manifest = read_manifest(root, version)
    adapters = [load_adapter_file(root / version / s["file"]) for s in manifest["shards"]]
    lora = manifest["lora"]
    scalings = [float(lora["alpha"]) / float(lora["r"])] * len(adapters)
    v = read_validation(root, version)
    index = ValidationIndex(
        sample_ids=tuple(str(x) for x in v["sample_ids"]),
        user_keys=tuple(str(x) for x in v["user_keys"]),
        shards=v["shards"].astype(np.int64),
        vectors=v["vectors"].astype(np.float64),
        labels=v["labels"].astype(np.int64),
        predictions=v["predictions"].astype(np.float64),
    )
    rule = WeightRule(neighbours=int(manifest["rule"]["neighbours"]), tau=float(manifest["rule"]["tau"]))
    return LoadedSet(version, manifest, adapters, scalings, index, rule, read_item_vectors(root, version))


class AdapterScorer:
    """A :class:`Scorer` whose adapted layers follow the ``CURRENT`` adapter set."""

    def __init__(self, scorer: Scorer, adapters_root: Path) -> None:
        self.scorer = scorer
        self.root = adapters_root
        self.version = ZERO_SHOT
        self._aggregated: AggregatedScorer | None = None
        self.refresh()

    def refresh(self) -> str:
        """Load the set ``CURRENT`` names if it is not the one loaded; returns the served version."""
        wanted = read_current(self.root)
        if wanted is None or wanted == self.version:
            return self.version
        try:
            loaded = load_set(self.root, wanted)
            base_model = loaded.manifest.get("base_model", {}).get("name")
            if base_model and base_model != self.scorer.name:
                raise ValueError(
                    f"set {wanted} was trained on {base_model}, this server runs {self.scorer.name}"
                )
            aggregated = AggregatedScorer(
                self.scorer, loaded.adapters, loaded.scalings, loaded.index, loaded.rule, loaded.item_vectors
            )
        except Exception:  # keep serving the previous set (or the base model)
            # attach_aggregated checks every adapter against the model before it replaces a
            # layer, so a set that fails here has not touched the layers in use.
            log.exception("adapter set %s could not be loaded; still serving %s", wanted, self.version)
            return self.version
        self._aggregated, self.version = aggregated, wanted
        log.info("serving adapter set %s (%d shards)", wanted, aggregated.shards)
        return self.version

    def score(
        self,
        context: str,
        candidates: Sequence[str],
        context_items: Sequence[str] = (),
        excluded: Collection[int] = (),
    ) -> ScoredWithSet:
        """P(Yes) with the current set; all shards excluded means the base model alone."""
        self.refresh()
        if self._aggregated is None:
            return ScoredWithSet(self.scorer.score(context, candidates), ZERO_SHOT, np.zeros(0))
        scored = self._aggregated.score(context, candidates, context_items, excluded)
        return ScoredWithSet(scored.probabilities, self.version, scored.weights)

    def score_many(self, requests: Sequence[AdapterRequest], excluded: Collection[int] = ()) -> ScoredMany:
        """Several users in one pass (cross-user batching), every user with their own weights.

        The set is refreshed once, before the batch, so one call never mixes two sets.
        """
        if len(requests) == 1:  # the single-user path, bit for bit as before batching existed
            one = self.score(requests[0].context, requests[0].candidates, requests[0].context_items, excluded)
            return ScoredMany([one.probabilities], one.version, one.weights.reshape(1, -1))
        self.refresh()
        if self._aggregated is None:
            plain = self.scorer.score_many([UserRequest(r.context, r.candidates) for r in requests])
            return ScoredMany(plain, ZERO_SHOT, np.zeros((len(requests), 0)))
        scored = self._aggregated.score_many(requests, excluded)
        weights = np.stack([s.weights for s in scored]) if scored else np.zeros((0, self._aggregated.shards))
        return ScoredMany([s.probabilities for s in scored], self.version, weights)
