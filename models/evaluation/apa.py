"""Fine-tuned LLM rankers: one LoRA (``llm-lora``), APA's K shards (``llm-apa``,
``llm-apa-random``), and APA fused with item-kNN (``hybrid``).

The adapters train on the split's training histories only: every user's interactions strictly
before their earliest evaluation target (``FitData.training_history``), through the same
``models.training.trainer.train_set`` the live system uses. Scoring is
``models.training.apa_scorer.AggregatedScorer``, the code the Triton recommender runs, with the
worker's prompt (``PromptConfig(max_recent=5)``).

* ``llm-lora`` is APA's "Retrain" reference: K = 1, all training samples in one adapter.
* ``llm-apa``: K shards, semantic partition, sample-adaptive weights.
* ``llm-apa-random``: the same with the random (hash) partition.
* ``hybrid``: ``alpha * z(llm-apa) + (1 - alpha) * z(itemknn)``, scores z-normalized per
  target, ``alpha`` chosen on validation NDCG@10. This is what a production pipeline would ship;
  it shows whether the LLM adds anything beyond retrieval.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from models.evaluation.data import Target, natural_key, to_history
from models.evaluation.itemknn import ItemKNNRanker
from models.evaluation.metrics import metric_table, positive_rank
from models.evaluation.ranker import FitData, Ranker, Scores
from models.prompts import PromptConfig, build_candidate, build_context
from models.training.samples import TrainingEvent, UserData
from models.types import ItemText

__all__ = ["AdapterRanker", "HybridRanker", "training_users"]


def training_users(data: FitData) -> list[UserData]:
    """Every user's training history as training input; offline keys are ``user:<id>``."""
    users = []
    for user in sorted(data.dataset.histories, key=natural_key):
        history = data.training_history(user)
        if history:
            events = tuple(
                TrainingEvent(f"{user}#{k}", i.item_id, i.event_type, i.rating, i.ts, k)
                for k, i in enumerate(history)
            )
            users.append(UserData(f"user:{user}", events))
    return users


class AdapterRanker(Ranker):
    """Trains a set of K adapters in ``fit`` and scores with their per-request aggregation."""

    def __init__(
        self,
        name: str,
        model_dir: Path,
        config: Any,  # models.training.shards.ShardingConfig (imported lazily: it loads torch)
        prompt_config: PromptConfig = PromptConfig(max_recent=5),
        device: str = "cpu",
        progress: bool = False,
        item_vectors: Callable[[Mapping[str, ItemText]], Mapping[str, Any]] | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.name = name  # type: ignore[misc]  # one class, three report rows
        self.model_dir = model_dir
        self.config = replace(config, samples=replace(config.samples, max_recent=prompt_config.max_recent))
        self.prompt_config = prompt_config
        self.device = device
        self.progress = progress
        self.item_vectors = item_vectors  # a run's shared embedding of the catalog (None: embed here)
        # Finished shards survive a killed run (``models.training.adapter_cache``); None: no cache.
        self.cache_dir = cache_dir
        self._scorer: Any = None
        self._items: Any = None
        self._info: dict[str, Any] = {}
        # Scores per target key: ``hybrid`` fuses this ranker's scores for targets the run has
        # already scored with it; the fitted adapters are fixed, so recomputing would only cost
        # seconds per target (the same numbers, deterministically).
        self._cache: dict[tuple[str, str], Scores] = {}

    def fit(self, data: FitData) -> None:
        from models.loading import load_causal_lm
        from models.scoring import Scorer
        from models.training.adapter_cache import ShardAdapterCache
        from models.training.apa_scorer import AggregatedScorer
        from models.training.trainer import conditions, train_set

        self._items = data.dataset.items
        self._cache = {}
        users = training_users(data)
        order = sorted(data.dataset.items, key=natural_key)
        bar = tqdm(desc=f"{self.name} training", unit="step", disable=not self.progress)

        def step(shard: int, done: int, total: int, loss: float) -> None:
            bar.total = total
            bar.set_description(f"{self.name} shard {shard}")
            bar.update(done - bar.n)
            bar.set_postfix(loss=f"{loss:.3f}")

        vectors = None if self.item_vectors is None else self.item_vectors(data.dataset.items)
        lora = self.config.lora
        cache = (
            None
            if self.cache_dir is None
            else ShardAdapterCache(self.cache_dir, self.model_dir, lora, conditions(lora.threads))
        )
        trained = train_set(
            self.model_dir,
            users,
            data.dataset.items,
            order,
            self.config,
            item_vectors=vectors,
            log_steps=step,
            cache=cache,
        )
        bar.close()
        model, tokenizer = load_causal_lm(self.model_dir, device=self.device)
        self._scorer = AggregatedScorer(
            Scorer(model, tokenizer, name=self.model_dir.name),
            [a.tensors for a in trained.adapters],
            trained.scalings,
            trained.index,
            trained.rule,
            trained.item_vectors,
        )
        self._info = {
            "model": self.model_dir.name,
            "shards": self.config.shards,
            "partition": trained.partitioner.kind,
            "shard_users": [len(s.user_keys) for s in trained.shards],
            "training_samples": sum(a.train_samples for a in trained.adapters),
            "validation_samples": len(trained.index.sample_ids),
            # What training the set cost, including shards a killed earlier run trained.
            "training_seconds": round(sum(a.seconds for a in trained.adapters), 1),
            "cached_shards": list(trained.cached),
            "seconds": {k: round(v, 1) for k, v in trained.seconds.items()},
            "shard_validation_auc": [a.validation_auc for a in trained.adapters],
            "best_epochs": [a.best_epoch for a in trained.adapters],
            "samples_per_second": [round(a.samples_per_second, 2) for a in trained.adapters],
            "rule": {"neighbours": trained.rule.neighbours, "tau": trained.rule.tau},
            "rule_grid_auc": trained.rule_table,
            "lora": self.config.lora.as_dict(),
            "max_samples": self.config.max_samples,
            "prompt": {"max_recent": self.prompt_config.max_recent},
        }

    def score(self, targets: Sequence[Target], progress: bool = False) -> list[Scores]:
        if self._scorer is None:
            raise RuntimeError(f"{self.name}.score called before fit")
        out = []
        for target in tqdm(targets, desc=self.name, unit="target", disable=not progress):
            cached = self._cache.get(target.key)
            if cached is not None:
                out.append(cached.copy())
                continue
            history = to_history(target.history, self._items)
            shown = history[-self.prompt_config.max_recent :]
            context = build_context(history, self.prompt_config)
            candidates = [build_candidate(self._items[c], self.prompt_config) for c in target.candidates]
            scored = self._scorer.score(context, candidates, [e.item.item_id for e in shown])
            self._cache[target.key] = scored.probabilities.astype(np.float64)
            out.append(self._cache[target.key].copy())
        return out

    def info(self) -> dict[str, Any]:
        return dict(self._info)


def _z(values: Scores) -> Scores:
    spread = float(values.std())
    return (values - values.mean()) / spread if spread > 0 else np.zeros_like(values)


class HybridRanker(Ranker):
    """APA's LLM score fused with item-kNN's, the weight tuned on validation NDCG@10."""

    name = "hybrid"

    def __init__(self, llm: AdapterRanker, knn: ItemKNNRanker | None = None, grid: int = 11) -> None:
        self.llm = llm
        self.knn = knn or ItemKNNRanker()
        self.alphas = tuple(float(a) for a in np.linspace(0.0, 1.0, grid))
        self.alpha = 0.0
        self.validation_ndcg: dict[str, float] = {}
        self._llm_fitted = False

    def fit(self, data: FitData) -> None:
        """Fits item-kNN; reuses the LLM ranker when the run already fitted it on this data."""
        self.knn.fit(data)
        if not self.llm.info():
            self.llm.fit(data)
        self.validation_ndcg = {}
        if not data.validation:
            return
        llm_scores = self.llm.score(list(data.validation))
        knn_scores = self.knn.score(list(data.validation))
        for alpha in self.alphas:
            ranks = [
                positive_rank(alpha * _z(a) + (1 - alpha) * _z(b), t.positive_index)
                for t, a, b in zip(data.validation, llm_scores, knn_scores, strict=True)
            ]
            self.validation_ndcg[f"{alpha:.1f}"] = float(metric_table(ranks)["ndcg@10"].mean())
        best = max(self.validation_ndcg.values())
        # Ties go to the smaller LLM weight: the cheaper, retrieval-only ranking.
        self.alpha = min(a for a in self.alphas if self.validation_ndcg[f"{a:.1f}"] == best)

    def score(self, targets: Sequence[Target], progress: bool = False) -> list[Scores]:
        llm = self.llm.score(targets, progress=progress)
        knn = self.knn.score(targets)
        return [self.alpha * _z(a) + (1 - self.alpha) * _z(b) for a, b in zip(llm, knn, strict=True)]

    def info(self) -> dict[str, Any]:
        return {
            "fusion": "alpha * z(llm-apa) + (1 - alpha) * z(itemknn), z per target",
            "alpha": self.alpha,
            "validation_ndcg@10": self.validation_ndcg,
            "itemknn": self.knn.info(),
            "llm": self.llm.name,
        }
