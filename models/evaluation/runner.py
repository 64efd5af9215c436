"""One evaluation run: load, split, fit every model, score the same targets, write the report.

Order of work, and why:

1. Load the dataset and hash its files, so a report names the exact bytes it measured.
2. Build the targets of *every* user (the training cutoffs need them all), then evaluate a
   seeded sample of users (``users``) to fit a CPU budget.
3. Fit each model on leakage-free data (``FitData``), tuning only on validation targets,
   then score validation and test targets. The LLM rankers score the test split only by
   default: they have nothing to tune, and validation would double their cost.
4. Rank positives pessimistically, bootstrap the metrics, write report.json, report.md,
   metrics.png and rankings.jsonl (and summaries.jsonl for ``llm-summary``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.evaluation.checkpoint import fingerprint, load_checkpoint, save_checkpoint
from models.evaluation.config import ADAPTER_MODELS, EvalConfig
from models.evaluation.data import SPLITS, Dataset, Target, file_digests, natural_key
from models.evaluation.metrics import (
    BootstrapConfig,
    MetricValue,
    paired_difference,
    positive_rank,
    summarize,
)
from models.evaluation.ranker import FitData, Ranker
from models.evaluation.result import ModelResult
from models.evaluation.split import SplitConfig, build_targets, sample_users

if TYPE_CHECKING:
    from models.scoring import Scorer
    from models.summarizer import Summarizer
    from models.types import ItemText

__all__ = [
    "LanguageModels",
    "Prepared",
    "compare_models",
    "load_dataset",
    "make_ranker",
    "prepare",
    "run_evaluation",
]

log = logging.getLogger(__name__)


def load_dataset(config: EvalConfig) -> Dataset:
    if config.dataset == "movielens":
        from models.evaluation.movielens import load_movielens

        return load_movielens(config.data)
    from models.evaluation.mind import load_mind

    return load_mind(config.data, seed=config.seed)


class LanguageModels:
    """Loads the scoring and summarizing LMs once, on first use, and shares weights when the
    same directory serves both (the default: one SmolLM2 for everything, as in serving)."""

    def __init__(self, config: EvalConfig) -> None:
        self.config = config
        self._scorer: Scorer | None = None
        self._summarizer: Summarizer | None = None
        self._rankers: dict[str, Ranker] = {}
        self._item_vectors: dict[str, Any] | None = None

    def item_vectors(self, items: Mapping[str, ItemText]) -> dict[str, Any]:
        """Base-LLM item vectors, embedded once per run: every fine-tuned row uses the same
        catalog and base model, and embedding ~10k items costs minutes on a CPU."""
        if self._item_vectors is None:
            from models.evaluation.vector_cache import cache_path, load_vectors, save_vectors
            from models.training.trainer import embed_catalog

            catalog = list(items.values())
            # On disk between runs too (``vector_cache``): same weights and text, same bytes.
            path = cache_path(self.config.data_dir / "cache", self.model_dir(), catalog)
            cached = load_vectors(path) or {}
            vectors = embed_catalog(self.model_dir(), catalog, known=cached, progress=self.config.progress)
            if set(cached) != set(vectors):
                save_vectors(path, vectors)
            self._item_vectors = vectors
        return self._item_vectors

    def shared(self, name: str, build: Callable[[], Ranker]) -> Ranker:
        """One ranker per name per run, so ``hybrid`` reuses the ``llm-apa`` already fitted."""
        if name not in self._rankers:
            self._rankers[name] = build()
        return self._rankers[name]

    def model_dir(self) -> Path:
        return self._dir(self.config.model_path)

    def _dir(self, path: Path | None) -> Path:
        from models.loading import resolve_model_dir

        return resolve_model_dir(self.config.data_dir, path)

    def scorer(self) -> Scorer:
        if self._scorer is None:
            from models.scoring import Scorer

            self._scorer = Scorer.from_pretrained(
                self._dir(self.config.model_path), device=self.config.device
            )
        return self._scorer

    def summarizer(self) -> Summarizer:
        if self._summarizer is None:
            from models.summarizer import Summarizer

            if self.config.summarizer_path is None or self.config.summarizer_path == self.config.model_path:
                scorer = self.scorer()
                self._summarizer = Summarizer(
                    scorer.model, scorer.tokenizer, self.config.generation, name=scorer.name
                )
            else:
                self._summarizer = Summarizer.from_pretrained(
                    self._dir(self.config.summarizer_path), self.config.generation, device=self.config.device
                )
        return self._summarizer


def _adapter_ranker(name: str, config: EvalConfig, lms: LanguageModels) -> Ranker:
    """``llm-lora``, ``llm-apa``, ``llm-apa-random``; ``hybrid`` shares the run's ``llm-apa``."""
    from models.evaluation.apa import AdapterRanker, HybridRanker
    from models.prompts import PromptConfig
    from models.training.lora import LoraSettings
    from models.training.shards import ShardingConfig

    if name == "hybrid":
        return HybridRanker(lms.shared("llm-apa", lambda: _adapter_ranker("llm-apa", config, lms)))  # type: ignore[arg-type]
    budget = config.adapters
    sharding = ShardingConfig(
        shards=1 if name == "llm-lora" else budget.shards,
        partition="random" if name in ("llm-lora", "llm-apa-random") else "semantic",
        max_samples=budget.max_samples,
        seed=config.seed,
        lora=replace(LoraSettings(), max_epochs=budget.epochs, seed=config.seed),
    )
    model_dir = lms.model_dir()
    return lms.shared(
        name,
        lambda: AdapterRanker(
            name,
            model_dir,
            sharding,
            PromptConfig(max_recent=config.prompt_recent),
            config.device,
            config.progress,
            lms.item_vectors,
            config.data_dir / "cache",
        ),
    )


def make_ranker(name: str, config: EvalConfig, lms: LanguageModels) -> Ranker:
    from models.prompts import PromptConfig

    if name in ADAPTER_MODELS:
        return _adapter_ranker(name, config, lms)

    if name == "random":
        from models.evaluation.random_ranker import RandomRanker

        return RandomRanker(seed=config.seed)
    if name == "popularity":
        from models.evaluation.popularity import PopularityRanker

        return PopularityRanker()
    if name == "itemknn":
        from models.evaluation.itemknn import ItemKNNRanker

        return ItemKNNRanker()
    if name == "sasrec":
        from models.evaluation.sasrec import SASRecRanker

        return SASRecRanker(replace(config.sasrec, seed=config.seed), progress=config.progress)
    prompt = PromptConfig(max_recent=config.prompt_recent)
    if name == "llm-zeroshot":
        from models.evaluation.llm import LLMRanker

        return LLMRanker(lms.scorer(), prompt)
    from models.evaluation.llm import SummaryLLMRanker

    chain = replace(config.chain, recent=config.prompt_recent)
    return SummaryLLMRanker(lms.scorer(), lms.summarizer(), chain, prompt)


def _evaluate(ranker: Ranker, data: FitData, targets: Sequence[Target], progress: bool) -> ModelResult:
    started = time.perf_counter()
    ranker.fit(data)
    fitted = time.perf_counter()
    scores = ranker.score(targets, progress=progress)
    done = time.perf_counter()
    if len(scores) != len(targets):
        raise RuntimeError(f"{ranker.name} returned {len(scores)} score arrays for {len(targets)} targets")
    for target, values in zip(targets, scores, strict=True):
        if len(values) != len(target.candidates):
            raise RuntimeError(f"{ranker.name}: {len(values)} scores for {len(target.candidates)} candidates")
    return ModelResult(
        name=ranker.name,
        scores={t.key: s for t, s in zip(targets, scores, strict=True)},
        fit_seconds=fitted - started,
        score_seconds=done - fitted,
        info=ranker.info(),
        ranker=ranker,
    )


COMPARED_METRICS: tuple[str, ...] = ("ndcg@10", "recall@10")


def compare_models(
    results: Sequence[ModelResult], targets: Sequence[Target], bootstrap: BootstrapConfig
) -> dict[str, dict[str, MetricValue]]:
    """``"A - B"`` -> paired bootstrap difference per metric, for every pair that ranked ``targets``.

    Pairs are in run order (a later model minus an earlier one), so "llm-summary - random" reads
    as the gain of the LLM over chance.
    """
    out: dict[str, dict[str, MetricValue]] = {}
    for j, a in enumerate(results):
        for b in results[:j]:
            shared = [t for t in targets if t.key in a.scores and t.key in b.scores]
            if not shared:
                continue
            ranks_a = [positive_rank(a.scores[t.key], t.positive_index) for t in shared]
            ranks_b = [positive_rank(b.scores[t.key], t.positive_index) for t in shared]
            out[f"{a.name} - {b.name}"] = {
                m: paired_difference(ranks_a, ranks_b, m, bootstrap) for m in COMPARED_METRICS
            }
    return out


@dataclass(frozen=True)
class Prepared:
    """The evaluated users' targets and the leakage-free fit data of one configuration."""

    dataset: Dataset
    digests: dict[str, str]
    eligible: list[str]  # users with a test target
    targets: list[Target]  # the sampled users' targets, every split
    data: FitData


def prepare(config: EvalConfig) -> Prepared:
    """Load, split and sample exactly as ``run_evaluation`` does (benchmarks reuse it, so they
    measure on the evaluation's own users and fit the same adapters)."""
    dataset = load_dataset(config)
    digests = file_digests(dataset.sources)
    all_targets = (
        list(dataset.fixed_targets)
        if dataset.fixed_targets is not None
        else build_targets(dataset, SplitConfig(seed=config.seed))
    )
    eligible = sorted({t.user_id for t in all_targets if t.split == "test"}, key=natural_key)
    if not eligible:
        raise ValueError(f"{config.data}: no user has a test target")
    chosen = set(sample_users(eligible, config.users, config.seed))
    targets = [t for t in all_targets if t.user_id in chosen]
    data = FitData(
        dataset, FitData.cutoffs_from(all_targets), [t for t in targets if t.split == "validation"]
    )
    return Prepared(dataset, digests, eligible, targets, data)


def run_evaluation(config: EvalConfig) -> dict[str, Any]:
    """Run the whole protocol and write the report files into ``config.out``; returns report.json."""
    from models.evaluation.report import write_report

    started = time.perf_counter()
    prepared = prepare(config)
    dataset, digests, eligible, targets, data = (
        prepared.dataset,
        prepared.digests,
        prepared.eligible,
        prepared.targets,
        prepared.data,
    )
    log.info(
        "%s: %d eligible users, evaluating %d (%d targets)",
        dataset.name,
        len(eligible),
        len({t.user_id for t in targets}),
        len(targets),
    )

    lms = LanguageModels(config)
    results: list[ModelResult] = []
    print_ = fingerprint(config, digests, targets)
    for name in config.models:
        splits = config.splits_for(name)
        saved = load_checkpoint(config.out, name, print_) if config.resume else None
        if saved is not None:
            log.info("model %s: resumed from %s/checkpoints", name, config.out)
            results.append(saved)
            continue
        log.info("model %s on %s", name, "+".join(splits))
        ranker = make_ranker(name, config, lms)
        result = _evaluate(ranker, data, [t for t in targets if t.split in splits], config.progress)
        save_checkpoint(config.out, result, print_)
        results.append(result)

    metrics: dict[str, dict[str, Any]] = {}
    for result in results:
        per_split: dict[str, Any] = {}
        for split in SPLITS:
            ranks = [
                positive_rank(result.scores[t.key], t.positive_index)
                for t in targets
                if t.split == split and t.key in result.scores
            ]
            per_split[split] = summarize(ranks, config.bootstrap) if ranks else None
        metrics[result.name] = per_split
    comparisons = compare_models(results, [t for t in targets if t.split == "test"], config.bootstrap)
    return write_report(
        config=config,
        comparisons=comparisons,
        dataset=dataset,
        digests=digests,
        eligible_users=len(eligible),
        targets=targets,
        results=results,
        metrics=metrics,
        wall_seconds=time.perf_counter() - started,
    )
