"""Retrain a published set after deletions: same cut, same recipe, only the shards whose data changed.

The trainer exports the retained data inside the current set's recorded cut (its watermark and
summary versions) *after* the purges, and rebuilds the set with
:func:`models.training.trainer.train_set`, offering every published adapter for reuse:

* A shard whose samples are unchanged (same ids, same splits) keeps its file, hard-linked, so
  its sha256 stays. Training is deterministic, so that file is exactly what a from-scratch
  retrain would give; ``streamrec adapters verify`` proves it for the whole new set.
* A shard that lost samples (the forgotten user's, or those an item-level deletion changed)
  trains from scratch on what is left. Finding shards by comparing sample digests rather than
  trusting the dirty marks alone also catches a user whom an item-level deletion moved to
  another shard of a semantic partition.
* The validation index and the weight rule span every shard, so they are recomputed.

Why the *same* cut and not the newest watermark: new clicks since the set's cut would change
almost every shard's samples, and forgetting one user would cost a full retrain. Fresh data
enters through the refresh job of the scheduler instead (``streams.training.scheduler``).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.training.trainer import kept_from_manifest, train_set
from serving.adapters import read_manifest, read_validation, remove_partial_sets
from streams.training.cut import load_set_at_cut
from streams.training.job import CATALOG, publish_set

__all__ = ["RetrainResult", "ShardOutcome", "retrain_set"]


@dataclass(frozen=True)
class ShardOutcome:
    shard: int
    retrained: bool
    old_sha256: str
    new_sha256: str
    train_seconds: float  # this run's training time (0 for a kept shard)


@dataclass(frozen=True)
class RetrainResult:
    previous: str
    version: str
    watermark: int
    dirty_high_water: int  # deletions up to this mark are absent from ``version``
    shards: tuple[ShardOutcome, ...]
    seconds: float

    @property
    def retrained(self) -> tuple[int, ...]:
        return tuple(s.shard for s in self.shards if s.retrained)

    def as_dict(self) -> dict[str, Any]:
        return {
            "previous": self.previous,
            "version": self.version,
            "watermark": self.watermark,
            "dirty_high_water": self.dirty_high_water,
            "seconds": round(self.seconds, 3),
            "shards": [
                {
                    "shard": s.shard,
                    "retrained": s.retrained,
                    "old_sha256": s.old_sha256,
                    "new_sha256": s.new_sha256,
                    "train_seconds": round(s.train_seconds, 3),
                }
                for s in self.shards
            ],
        }


def _known_predictions(root: Path, version: str) -> dict[tuple[int, str], float]:
    """(adapter, sample id) -> P(Yes) from the published validation index of ``version``."""
    index = read_validation(root, version)
    predictions = index["predictions"]
    return {
        (k, str(sample_id)): float(predictions[i, k])
        for i, sample_id in enumerate(index["sample_ids"])
        for k in range(predictions.shape[1])
    }


def retrain_set(
    snapshot: Path,
    adapters_root: Path,
    previous: str,
    model_dir: Path,
    *,
    reason: str = "deletion",
    progress: Callable[[int, int, int, float], None] | None = None,
    keep_snapshot: bool = False,
) -> RetrainResult:
    """Publish ``previous`` retrained on ``snapshot`` (exported at its cut) and make it current.

    Raises ``ValueError`` when the snapshot is not at ``previous``'s cut. Deletes ``snapshot``.
    """
    started = time.perf_counter()
    try:
        inputs = load_set_at_cut(snapshot, adapters_root, previous, model_dir)
        remove_partial_sets(adapters_root)
        trained = train_set(
            model_dir,
            inputs.data.users,
            inputs.data.catalog,
            inputs.data.catalog_order,
            inputs.config,
            item_vectors=inputs.item_vectors,
            partitioner=inputs.partitioner,
            log_steps=progress,
            keep=kept_from_manifest(inputs.manifest, inputs.directory),
            known_predictions=_known_predictions(adapters_root, previous),
        )
        old = inputs.manifest["shards"]
        kept_files = {k: inputs.directory / old[k]["file"] for k in trained.reused}
        retrained = [k for k in range(len(trained.shards)) if k not in trained.reused]
        version = publish_set(
            trained,
            inputs.data,
            adapters_root,
            inputs.base_model,
            inputs.directory / CATALOG,
            previous=previous,
            item_text_sha256=inputs.manifest.get("item_text_sha256", {}),
            kept_files=kept_files,
            extra_manifest={"retrain": {"of": previous, "reason": reason, "shards": retrained}},
        )
        new = read_manifest(adapters_root, version)["shards"]
        outcomes = tuple(
            ShardOutcome(
                shard=k,
                retrained=k in retrained,
                old_sha256=str(old[k]["sha256"]),
                new_sha256=str(new[k]["sha256"]),
                train_seconds=0.0 if k in trained.reused else trained.adapters[k].seconds,
            )
            for k in range(len(new))
        )
        return RetrainResult(
            previous=previous,
            version=version,
            watermark=inputs.data.watermark,
            dirty_high_water=inputs.data.dirty_high_water,
            shards=outcomes,
            seconds=time.perf_counter() - started,
        )
    finally:
        if not keep_snapshot:
            shutil.rmtree(snapshot, ignore_errors=True)
