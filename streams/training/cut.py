"""The inputs of rebuilding a published set at its recorded data cut, checked before any training.

Two jobs train a set again at the cut it was trained on: ``verify`` (every shard from scratch,
to compare bytes) and ``retrain`` (only the shards whose data changed, after a deletion). Both
need the same things, read and checked the same way: the recorded recipe, the set's own
catalog, its catalog-only item vectors and partitioner, and the retained data inside the cut
that the worker exported. A snapshot from another watermark or catalog is refused here, since
whatever was trained from it would prove nothing about the set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.training.embeddings import Vector
from models.training.partition import Partitioner
from models.training.shards import ShardingConfig
from models.training.trainer import config_from_manifest
from serving.adapters import read_item_vectors, read_manifest
from streams.training.dataset import TrainingData, read_snapshot
from streams.training.job import CATALOG, DATA_CUT, read_partitioner

__all__ = ["SetAtCut", "load_set_at_cut", "read_data_cut"]


def read_data_cut(root: Path, version: str) -> tuple[int, dict[str, int]]:
    """The watermark and per-user summary versions a set was trained on (for the worker's export)."""
    cut = json.loads((root / version / DATA_CUT).read_text(encoding="utf-8"))
    return int(cut["watermark"]), {str(k): int(v) for k, v in cut["summary_versions"].items()}


@dataclass(frozen=True)
class SetAtCut:
    version: str
    directory: Path  # the published set's directory
    manifest: dict[str, Any]
    config: ShardingConfig  # the recipe it was trained with
    base_model: str
    data: TrainingData  # the retained data inside its cut, with the set's own catalog
    item_vectors: dict[str, Vector]
    partitioner: Partitioner


def load_set_at_cut(snapshot: Path, adapters_root: Path, version: str, model_dir: Path) -> SetAtCut:
    """Read ``version`` and the snapshot exported at its cut; ``ValueError`` if they do not fit."""
    manifest = read_manifest(adapters_root, version)
    directory = adapters_root / version
    if not (directory / DATA_CUT).exists() or not (directory / CATALOG).exists():
        raise ValueError(f"{version} records no data cut or catalog; it predates verifiable sets")
    config = config_from_manifest(manifest)
    base_model = str(manifest["base_model"]["name"])
    if model_dir.name != base_model:
        raise ValueError(
            f"{version} was trained on {base_model!r}, the configured model is {model_dir.name!r}"
        )
    data = read_snapshot(snapshot, catalog_file=directory / CATALOG)
    if data.watermark != manifest["watermark"]:
        raise ValueError(f"snapshot at watermark {data.watermark}, {version} at {manifest['watermark']}")
    if data.catalog_digest != manifest["catalog"]["digest"]:
        raise ValueError(f"{version}/{CATALOG} does not match the catalog digest in its manifest")
    return SetAtCut(
        version=version,
        directory=directory,
        manifest=manifest,
        config=config,
        base_model=base_model,
        data=data,
        item_vectors=read_item_vectors(adapters_root, version),
        partitioner=read_partitioner(adapters_root, version, manifest),
    )
