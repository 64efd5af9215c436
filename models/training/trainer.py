"""Train a whole adapter set from users' data: embed, partition, sample, train K shards, index, tune.

Pure library code: it reads the base model directory and returns tensors and numbers. Writing
the set to disk is ``serving.adapters``; the live trainer (``streams.training``) and the offline
evaluation both call :func:`train_set`, so the set they train is the same function of the data.

Every shard trains on a freshly loaded base model, so no shard's result depends on the order in
which shards are trained (or on which other shards are retrained after a deletion).
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.loading import load_causal_lm
from models.scoring import Scorer
from models.training.adapter_cache import ShardAdapterCache
from models.training.aggregation import ValidationIndex, WeightRule
from models.training.apa_scorer import AggregatedScorer
from models.training.embeddings import ItemEmbedder, Vector
from models.training.lora import (
    LoraSettings,
    TrainedAdapter,
    attach_lora,
    deterministic_torch,
    load_adapter_file,
    lora_tensors,
    train_adapter,
)
from models.training.partition import Partitioner, fit_centroids
from models.training.samples import SampleConfig, SampleGroup, UserData
from models.training.shards import Shard, ShardingConfig, assign_users, build_index, build_shards, tune_rule
from models.types import ItemText

__all__ = [
    "KeptShard",
    "TrainedSet",
    "conditions",
    "config_from_manifest",
    "embed_catalog",
    "index_arrays",
    "kept_from_manifest",
    "make_partitioner",
    "set_manifest",
    "train_set",
]

Progress = Callable[[str, int, int], None]  # (what, done, total)


@dataclass
class TrainedSet:
    """Everything a set consists of; ``serving.adapters`` writes it, ``AggregatedScorer`` serves it."""

    config: ShardingConfig
    partitioner: Partitioner
    shards: list[Shard]
    adapters: list[TrainedAdapter]
    index: ValidationIndex
    rule: WeightRule
    rule_table: dict[str, float]
    item_vectors: dict[str, Vector]
    seconds: dict[str, float]
    reused: tuple[int, ...] = ()  # shards whose published adapter was kept (same samples)
    cached: tuple[int, ...] = ()  # shards whose adapter came from a ShardAdapterCache

    @property
    def scalings(self) -> list[float]:
        return [self.config.lora.scaling] * len(self.adapters)


@dataclass(frozen=True)
class KeptShard:
    """A published shard's adapter, offered for reuse when its training data is unchanged.

    ``content_digest`` is the recorded ``samples_content_sha256``. Training is deterministic, so
    a shard whose samples (contexts, candidates, labels, splits) are the same would retrain to
    the same bytes; reusing
    the file skips the hours and is exactly what a from-scratch retrain gives. This is what
    makes forgetting one user cost one shard (APA).
    """

    content_digest: str
    adapter: TrainedAdapter


def conditions(threads: int, device: str = "cpu") -> dict[str, str]:
    """What byte-identical retraining is conditional on; recorded in every manifest."""
    import peft
    import safetensors
    import torch
    import transformers

    return {
        "threads": str(threads),
        "device": device,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "safetensors": safetensors.__version__,
        "numpy": np.__version__,
    }


def embed_catalog(
    model_dir: Path,
    items: Sequence[ItemText],
    known: Mapping[str, Vector] | None = None,
    progress: bool = False,
    threads: int = LoraSettings().threads,
) -> dict[str, Vector]:
    """Base-LLM vectors of ``items``; vectors in ``known`` (same model, same text) are reused."""
    known = known or {}
    missing = [item for item in items if item.item_id not in known]
    vectors = {item.item_id: known[item.item_id] for item in items if item.item_id in known}
    if missing:
        model, tokenizer = load_causal_lm(model_dir)
        # The vectors place users in shards and land in items.npz: same kernels, same bytes.
        with deterministic_torch(threads):
            vectors.update(ItemEmbedder(model, tokenizer).embed_all(missing, progress=progress))
    return vectors


def make_partitioner(config: ShardingConfig, item_vectors: Mapping[str, Vector]) -> Partitioner:
    salt = f"streamrec-partition-{config.seed}"
    if config.partition == "random":
        return Partitioner("random", config.shards, salt)
    return Partitioner(
        "semantic", config.shards, salt, fit_centroids(item_vectors, config.shards, config.seed)
    )


def _predictor(scorer: AggregatedScorer) -> Callable[[int, SampleGroup], list[float]]:
    def predict(shard: int, group: SampleGroup) -> list[float]:
        one_hot = np.zeros(scorer.shards)
        one_hot[shard] = 1.0
        return [
            float(p) for p in scorer.score_with(one_hot, group.context, [s.candidate for s in group.samples])
        ]

    return predict


def _reusing(
    predict: Callable[[int, SampleGroup], list[float]],
    shards: Sequence[Shard],
    reused: set[int],
    known: Mapping[tuple[int, str], float],
) -> Callable[[int, SampleGroup], list[float]]:
    """``predict`` that answers from ``known`` for a reused adapter on a reused shard's sample."""
    kept_samples = {
        s.sample_id for shard in shards if shard.shard in reused for g in shard.validation for s in g.samples
    }

    def cached(k: int, group: SampleGroup) -> list[float]:
        ids = [s.sample_id for s in group.samples]
        if k in reused and all(i in kept_samples and (k, i) in known for i in ids):
            return [known[(k, i)] for i in ids]
        return predict(k, group)

    return cached


def _untrained(model: Any, config: ShardingConfig) -> TrainedAdapter:
    tensors = lora_tensors(attach_lora(model, config.lora))
    return TrainedAdapter(tensors, config.lora, 0, 0, None, 0, 0.0, 0.0)


def train_set(
    model_dir: Path,
    users: Sequence[UserData],
    catalog: Mapping[str, ItemText],
    catalog_order: Sequence[str],
    config: ShardingConfig,
    *,
    item_vectors: Mapping[str, Vector] | None = None,
    partitioner: Partitioner | None = None,
    progress: Progress | None = None,
    log_steps: Callable[[int, int, int, float], None] | None = None,
    keep: Mapping[int, KeptShard] | None = None,
    known_predictions: Mapping[tuple[int, str], float] | None = None,
    cache: ShardAdapterCache | None = None,
) -> TrainedSet:
    """Train every shard of a new set. ``partitioner`` and ``item_vectors`` can be carried over
    from an earlier set (they depend on the catalog only), which keeps user assignments stable.

    ``keep`` offers published adapters per shard: a shard whose sample digest equals the kept
    one's reuses it instead of training (``TrainedSet.reused`` lists them); any other shard,
    such as one that lost a deleted user's samples, trains from scratch. The validation index
    and the weight rule are always recomputed, since they span every shard's samples.

    ``known_predictions`` ((adapter, sample id) -> P(Yes), from the published index) spares the
    index the pairs where both the adapter and the sample's shard were reused: the same adapter
    on the same sample gives the same value, so only the retrained adapters' columns and the
    retrained shards' rows are scored again (a from-scratch rebuild computes the same numbers,
    which ``verify`` checks byte for byte).

    ``cache`` (offline runs) returns a shard's adapter trained earlier, in this or a killed
    process, on the same samples under the same model and recipe, and stores each newly trained
    one: deterministic training makes a hit the same bytes a retrain would give.

    ``log_steps(shard, step, total, loss)`` reports training steps (for progress bars).
    """
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    vectors = (
        dict(item_vectors)
        if item_vectors is not None
        else embed_catalog(model_dir, list(catalog.values()), threads=config.lora.threads)
    )
    seconds["embed"] = time.perf_counter() - started
    partitioner = partitioner or make_partitioner(config, vectors)
    assignment = assign_users(users, partitioner, vectors, config.samples)
    shards = build_shards(users, catalog, catalog_order, assignment, config)
    adapters: list[TrainedAdapter] = []
    reused: list[int] = []
    cached: list[int] = []
    for shard in shards:
        if progress is not None:
            progress("train", shard.shard, len(shards))
        digest = shard.content_digest()
        kept = (keep or {}).get(shard.shard)
        if kept is not None and kept.content_digest == digest:
            adapters.append(kept.adapter)
            reused.append(shard.shard)
            continue
        hit = None if cache is None or not shard.train else cache.get(digest)
        if hit is not None:
            adapters.append(hit)
            cached.append(shard.shard)
            continue
        model, tokenizer = load_causal_lm(model_dir)
        if not shard.train:
            # No user of this shard has a sample (tiny data): its adapter is the untrained
            # init, whose B = 0 makes it exactly the base model.
            adapters.append(_untrained(model, config))
            continue
        step_cb = None if log_steps is None else (lambda s, t, loss, k=shard.shard: log_steps(k, s, t, loss))
        adapters.append(
            train_adapter(model, tokenizer, shard.train, shard.validation, config.lora, progress=step_cb)
        )
        if cache is not None:
            cache.put(digest, adapters[-1])
    seconds["train"] = sum(a.seconds for k, a in enumerate(adapters) if k not in reused and k not in cached)
    index_started = time.perf_counter()
    model, tokenizer = load_causal_lm(model_dir)
    empty_index = ValidationIndex(
        (), (), np.zeros(0, np.int64), np.zeros((0, 1)), np.zeros(0, np.int64), np.zeros((0, len(shards)))
    )
    scorer = AggregatedScorer(
        Scorer(model, tokenizer),
        [a.tensors for a in adapters],
        [config.lora.scaling] * len(adapters),
        empty_index,
        WeightRule(),
        vectors,
    )
    # The index's predictions are written to validation.npz and pick the weights: compute them
    # under the training recipe's kernels and threads so a from-scratch rebuild matches.
    predict = _predictor(scorer)
    if known_predictions and reused:
        predict = _reusing(predict, shards, set(reused), known_predictions)
    with deterministic_torch(config.lora.threads):
        index = build_index(shards, vectors, scorer.dim, predict)
    rule, table = tune_rule(index, config)
    seconds["index"] = time.perf_counter() - index_started
    seconds["total"] = time.perf_counter() - started
    return TrainedSet(
        config,
        partitioner,
        shards,
        adapters,
        index,
        rule,
        table,
        vectors,
        seconds,
        tuple(reused),
        tuple(cached),
    )


def set_manifest(
    trained: TrainedSet, base_model: str, watermark: int | None, catalog_digest: str
) -> dict[str, Any]:
    """The manifest of a trained set, without the fields the writer adds (version, files)."""
    config = trained.config
    return {
        "base_model": {"name": base_model},
        "watermark": watermark,
        "catalog_digest": catalog_digest,
        "partition": {
            "kind": trained.partitioner.kind,
            "shards": trained.partitioner.shards,
            "salt": trained.partitioner.salt,
            "sizes": [len(s.user_keys) for s in trained.shards],
            "assigned_users": [s.assigned_users for s in trained.shards],
        },
        "samples": {k: v for k, v in vars(config.samples).items()},
        "lora": config.lora.as_dict(),
        "max_samples": config.max_samples,
        "seed": config.seed,
        "shards": [
            {
                "shard": shard.shard,
                "users": len(shard.user_keys),
                "train_samples": sum(len(g.samples) for g in shard.train),
                "validation_samples": sum(len(g.samples) for g in shard.validation),
                "sample_ids_sha256": shard.sample_digest(),
                "samples_content_sha256": shard.content_digest(),
                "watermark": watermark,
                "validation_auc": adapter.validation_auc,
                "best_epoch": adapter.best_epoch,
                "reused": shard.shard in trained.reused,
                "train_seconds": round(adapter.seconds, 3),
                "samples_per_second": round(adapter.samples_per_second, 3),
                "validation_curve": adapter.validation_curve,
            }
            for shard, adapter in zip(trained.shards, trained.adapters, strict=True)
        ],
        "rule": {
            "neighbours": trained.rule.neighbours,
            "tau": trained.rule.tau,
            "grid_auc": trained.rule_table,
            "neighbours_grid": list(config.neighbours_grid),
            "tau_grid": list(config.tau_grid),
        },
        "validation_index": {"samples": len(trained.index.sample_ids)},
        "conditions": conditions(config.lora.threads),
        "seconds": {k: round(v, 3) for k, v in trained.seconds.items()},
    }


def config_from_manifest(manifest: Mapping[str, Any]) -> ShardingConfig:
    """The recipe a set was trained with, read back from its manifest (for a from-scratch rebuild).

    Every field that shapes the result is recorded by :func:`set_manifest`; a manifest that lacks
    one is refused rather than filled with today's defaults, which may have changed since.
    """
    try:
        lora = dict(manifest["lora"])
        rule = manifest["rule"]
        return ShardingConfig(
            shards=int(manifest["partition"]["shards"]),
            partition=str(manifest["partition"]["kind"]),
            max_samples=manifest["max_samples"],
            seed=int(manifest["seed"]),
            samples=SampleConfig(**manifest["samples"]),
            lora=LoraSettings(**{**lora, "target_modules": tuple(lora["target_modules"])}),
            neighbours_grid=tuple(int(n) for n in rule["neighbours_grid"]),
            tau_grid=tuple(float(t) for t in rule["tau_grid"]),
        )
    except KeyError as exc:
        raise ValueError(f"manifest lacks {exc.args[0]!r}: it predates recorded recipes") from None


def kept_from_manifest(manifest: Mapping[str, Any], set_dir: Path) -> dict[int, KeptShard]:
    """Every shard of a published set as a :class:`KeptShard` (tensors read from its file)."""
    settings = config_from_manifest(manifest).lora
    kept: dict[int, KeptShard] = {}
    for entry in manifest["shards"]:
        if "samples_content_sha256" not in entry:
            continue  # a set from before content digests: its shards cannot be shown unchanged
        adapter = TrainedAdapter(
            tensors=load_adapter_file(set_dir / entry["file"]),
            settings=settings,
            train_groups=0,
            train_samples=int(entry["train_samples"]),
            validation_auc=entry["validation_auc"],
            best_epoch=int(entry["best_epoch"]),
            seconds=float(entry["train_seconds"]),
            samples_per_second=float(entry["samples_per_second"]),
            validation_curve=list(entry.get("validation_curve", [])),
        )
        kept[int(entry["shard"])] = KeptShard(str(entry["samples_content_sha256"]), adapter)
    return kept


def index_arrays(index: ValidationIndex) -> dict[str, npt.NDArray[Any]]:
    """The validation index as plain arrays, for ``validation.npz``."""
    return {
        "sample_ids": np.asarray(index.sample_ids, dtype=np.str_),
        "user_keys": np.asarray(index.user_keys, dtype=np.str_),
        "shards": index.shards,
        "vectors": index.vectors,
        "labels": index.labels,
        "predictions": index.predictions,
    }
