"""One training run: a worker snapshot in, a new adapter set published, the snapshot deleted.

``python -m streams.training.job --snapshot DIR [--shards K] [--partition semantic|random]
[--max-samples N] [--epochs E]`` runs it in its own process (the scheduler of the unlearning
issue will start it so); ``streamrec adapters train`` calls :func:`train_from_snapshot` in the
CLI's process, which is never the worker's.

Catalog-only state carries over from the current set when it is compatible (same base model,
shard count, partition kind and seed): the item vectors of unchanged items and the semantic
centroids. So a retrain does not move users between shards just because the catalog grew.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from models.loading import resolve_model_dir
from models.prompts import describe_item
from models.training.curves import plot_training_curves
from models.training.embeddings import Vector
from models.training.lora import LoraSettings, save_adapter_file
from models.training.partition import Partitioner
from models.training.shards import ShardingConfig
from models.training.trainer import (
    KeptShard,
    TrainedSet,
    config_from_manifest,
    embed_catalog,
    index_arrays,
    kept_from_manifest,
    make_partitioner,
    set_manifest,
    train_set,
)
from models.types import ItemText
from serving.adapters import (
    AdapterSetFiles,
    read_current,
    read_item_vectors,
    read_manifest,
    remove_partial_sets,
    write_adapter_set,
)
from streams.training.dataset import TrainingData, read_snapshot

__all__ = [
    "CATALOG",
    "DATA_CUT",
    "MEMBERS",
    "main",
    "publish_set",
    "read_partitioner",
    "set_files",
    "train_from_snapshot",
]

DATA_CUT = "data_cut.json"  # the watermark and summary versions the set was trained on
MEMBERS = "members.parquet"  # user key -> shard, for every user with samples in the set
CATALOG = "catalog.parquet"  # the catalog it was trained on (negatives, prompts), not personal data

log = logging.getLogger(__name__)


def _text_sha(item: ItemText) -> str:
    return hashlib.sha256(describe_item(item, 120).encode()).hexdigest()


def read_partitioner(root: Path, version: str, manifest: dict[str, Any]) -> Partitioner:
    """A published set's partitioner: its kind, salt and (semantic) catalog-only centroids."""
    part = manifest["partition"]
    centroids = None
    if part["kind"] == "semantic":
        with np.load(root / version / "partition.npz") as data:
            centroids = data["centroids"].astype(np.float64)
    return Partitioner(part["kind"], part["shards"], part["salt"], centroids)


def _carried_over(
    root: Path, base_model: str, config: ShardingConfig, catalog: dict[str, ItemText]
) -> tuple[dict[str, Vector], Partitioner | None, str | None]:
    """Item vectors (unchanged items only) and the partitioner of a compatible current set."""
    current = read_current(root)
    if current is None:
        return {}, None, None
    manifest = read_manifest(root, current)
    if manifest.get("base_model", {}).get("name") != base_model:
        return {}, None, None
    texts = manifest.get("item_text_sha256", {})
    vectors = {
        item_id: vector
        for item_id, vector in read_item_vectors(root, current).items()
        if item_id in catalog and texts.get(item_id) == _text_sha(catalog[item_id])
    }
    part = manifest["partition"]
    partitioner = None
    if (
        part["kind"] == config.partition
        and part["shards"] == config.shards
        and manifest.get("seed") == config.seed
    ):
        partitioner = read_partitioner(root, current, manifest)
    return vectors, partitioner, current


def set_files(trained: TrainedSet, directory: Path, base_model: str) -> AdapterSetFiles:
    """Write a trained set's shard files and curves into ``directory``; what the writer publishes.

    ``streamrec adapters verify`` calls this too, so a rebuilt set is hashed exactly as the
    published one was written.
    """
    sources = []
    for k, adapter in enumerate(trained.adapters):
        path = directory / f"shard-{k}.safetensors"
        save_adapter_file(adapter.tensors, path, {"shard": str(k), "base_model": base_model})
        sources.append(path)
    members = directory / MEMBERS
    _write_members(trained, members)
    curves = directory / "training.png"
    title = f"{base_model}, {trained.config.partition} partition, K={trained.config.shards}"
    plot_training_curves(trained.adapters, curves, title)
    ids = sorted(trained.item_vectors)
    return AdapterSetFiles(
        shard_sources=sources,
        validation=index_arrays(trained.index),
        item_ids=ids,
        item_vectors=np.stack([trained.item_vectors[i] for i in ids]).astype(np.float32),
        centroids=trained.partitioner.centroids,
        extras={"training.png": curves, MEMBERS: members},
    )


def _write_members(trained: TrainedSet, path: Path) -> None:
    """Which salted user keys have samples in which shard: how a deletion finds its shards."""
    rows = sorted(
        (
            key,
            shard.shard,
            sum(len(g.samples) for g in (*shard.train, *shard.validation) if g.user_key == key),
        )
        for shard in trained.shards
        for key in shard.user_keys
    )
    table = pa.table(
        {
            "user_key": pa.array([r[0] for r in rows], pa.string()),
            "shard": pa.array([r[1] for r in rows], pa.int32()),
            "samples": pa.array([r[2] for r in rows], pa.int32()),
        }
    )
    pq.write_table(table, path)


def publish_set(
    trained: TrainedSet,
    data: TrainingData,
    adapters_root: Path,
    base_model: str,
    catalog_file: Path,
    *,
    previous: str | None,
    item_text_sha256: Mapping[str, str],
    kept_files: Mapping[int, Path] | None = None,
    extra_manifest: Mapping[str, Any] | None = None,
) -> str:
    """Write ``trained`` as a new version (atomically) and make it current; returns the version.

    ``kept_files`` names, per reused shard, the published file to hard-link, so an unchanged
    shard keeps its bytes and sha256. The set records its data cut (``data_cut.json``) and the
    dirty-mark high water of its snapshot: every deletion up to that mark is absent from it.
    """
    manifest: dict[str, Any] = set_manifest(trained, base_model, data.watermark, data.catalog_digest)
    manifest["previous"] = previous
    manifest["item_text_sha256"] = dict(item_text_sha256)
    manifest["data_cut"] = {"file": DATA_CUT, "summary_users": len(data.summary_versions)}
    manifest["catalog"] = {"file": CATALOG, "items": len(data.catalog), "digest": data.catalog_digest}
    manifest["dirty_high_water"] = data.dirty_high_water
    manifest.update(extra_manifest or {})
    with tempfile.TemporaryDirectory(prefix="streamrec-adapters-") as tmp:
        files = set_files(trained, Path(tmp), base_model)
        sources = [(kept_files or {}).get(k, path) for k, path in enumerate(files.shard_sources)]
        cut = Path(tmp) / DATA_CUT
        cut.write_text(
            json.dumps(
                {
                    "watermark": data.watermark,
                    "summary_versions": data.summary_versions,
                    "purged_requests": list(data.purged_requests),
                },
                sort_keys=True,
            ),
            encoding="utf-8",
        )
        extras = {**files.extras, DATA_CUT: cut, CATALOG: catalog_file}
        return write_adapter_set(
            adapters_root, replace(files, shard_sources=sources, extras=extras), manifest
        )


def train_from_snapshot(
    snapshot: Path,
    adapters_root: Path,
    model_dir: Path,
    config: ShardingConfig,
    *,
    progress: Callable[[int, int, int, float], None] | None = None,
    keep_snapshot: bool = False,
    reuse: bool = False,
) -> str:
    """Train, publish atomically, make current; returns the new version. Deletes ``snapshot``.

    With ``reuse`` (the scheduler's refresh), a shard of the current set whose samples are
    unchanged at the new watermark keeps its file, when the current set was trained with the
    same recipe and partitioner; every other shard trains.
    """
    try:
        data = read_snapshot(snapshot)
        remove_partial_sets(adapters_root)
        base_model = model_dir.name
        known, partitioner, previous = _carried_over(adapters_root, base_model, config, data.catalog)
        # Vectors are stored as float32; round them now so training and serving use the same values.
        fresh = {
            k: v.astype(np.float32).astype(np.float64)
            for k, v in embed_catalog(
                model_dir, list(data.catalog.values()), known, progress=True, threads=config.lora.threads
            ).items()
        }
        keep: dict[int, KeptShard] = {}
        kept_files: dict[int, Path] = {}
        if reuse and partitioner is not None and previous is not None:
            manifest = read_manifest(adapters_root, previous)
            if config_from_manifest(manifest) == config:
                keep = kept_from_manifest(manifest, adapters_root / previous)
                kept_files = {k: adapters_root / previous / manifest["shards"][k]["file"] for k in keep}
        if partitioner is None:
            partitioner = make_partitioner(config, fresh)
        trained = train_set(
            model_dir,
            data.users,
            data.catalog,
            data.catalog_order,
            config,
            item_vectors=fresh,
            partitioner=partitioner,
            log_steps=progress,
            keep=keep,
        )
        return publish_set(
            trained,
            data,
            adapters_root,
            base_model,
            snapshot / "items.parquet",
            previous=previous,
            item_text_sha256={item_id: _text_sha(item) for item_id, item in data.catalog.items()},
            kept_files={k: kept_files[k] for k in trained.reused},
        )
    finally:
        if not keep_snapshot:
            shutil.rmtree(snapshot, ignore_errors=True)


def _config(args: argparse.Namespace) -> ShardingConfig:
    base = ShardingConfig()
    return replace(
        base,
        shards=args.shards,
        partition=args.partition,
        max_samples=args.max_samples if args.max_samples > 0 else None,
        lora=replace(LoraSettings(), max_epochs=args.epochs),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m streams.training.job", description=__doc__)
    parser.add_argument("--snapshot", type=Path, required=True)
    parser.add_argument("--adapters-dir", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, default=Path(".streamrec"))
    parser.add_argument("--model-path", type=Path, default=None)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--partition", choices=("semantic", "random"), default="semantic")
    parser.add_argument("--max-samples", type=int, default=1024, help="0 = no cap")
    parser.add_argument("--epochs", type=int, default=LoraSettings().max_epochs)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    model_dir = resolve_model_dir(args.data_dir, args.model_path)
    version = train_from_snapshot(args.snapshot, args.adapters_dir, model_dir, _config(args))
    log.info("published adapter set %s", version)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
