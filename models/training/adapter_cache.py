"""Trained shard adapters kept on disk, found again by exactly what they are a function of.

Why: an offline evaluation trains K shards of about half an hour each on the 2-core CPU, and
a process that dies (a session's end, a kill, a crash) used to lose every finished shard.
Training is deterministic, so a shard's adapter is a pure function of

* the base model's bytes (``models.fingerprint``),
* the LoRA recipe (``LoraSettings.as_dict()``),
* what byte-identical training is conditional on (``trainer.conditions``: thread count,
  library versions),
* and the shard's samples (``Shard.content_digest()``: contexts, candidates, labels, splits).

A hit therefore returns the bytes a retrain would produce, so reusing one is exact, not an
approximation. The first three form the cache directory's name; the content digest names the
file inside it.

Each entry is a ``.safetensors`` file with the tensors and a ``.json`` file with how training
went (AUC, best epoch, seconds, curves), both written atomically; the tensors are renamed
into place last, so an entry without them is a miss.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from models.fingerprint import model_fingerprint
from models.training.lora import LoraSettings, TrainedAdapter

__all__ = ["ShardAdapterCache"]


def _atomic_write(path: Path, write: Any) -> None:
    temporary = path.with_name(path.name + ".tmp")
    write(temporary)
    with open(temporary, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, path)


class ShardAdapterCache:
    """``get``/``put`` trained adapters by shard content digest, under one model and recipe."""

    def __init__(
        self, root: Path, model_dir: Path, lora: LoraSettings, conditions: Mapping[str, str]
    ) -> None:
        """``conditions`` is ``models.training.trainer.conditions(lora.threads, device)``."""
        key = {
            "model": model_fingerprint(model_dir),
            "lora": lora.as_dict(),
            "conditions": dict(conditions),
        }
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
        self.lora = lora
        self.directory = root / f"adapters-{digest}"

    def _paths(self, content_digest: str) -> tuple[Path, Path]:
        if not content_digest or not all(c in "0123456789abcdef" for c in content_digest):
            raise ValueError(f"not a hex content digest: {content_digest!r}")
        return (
            self.directory / f"{content_digest}.safetensors",
            self.directory / f"{content_digest}.json",
        )

    def get(self, content_digest: str) -> TrainedAdapter | None:
        """The cached adapter, or None when there is no complete, readable entry."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        tensors_path, meta_path = self._paths(content_digest)
        if not (tensors_path.is_file() and meta_path.is_file()):
            return None
        try:
            meta = json.loads(meta_path.read_text())
            tensors = load_file(str(tensors_path))
        except (OSError, ValueError, SafetensorError):
            return None  # a torn or foreign entry: train again and overwrite it
        return TrainedAdapter(
            tensors=tensors,
            settings=self.lora,
            train_groups=int(meta["train_groups"]),
            train_samples=int(meta["train_samples"]),
            validation_auc=meta["validation_auc"],
            best_epoch=int(meta["best_epoch"]),
            seconds=float(meta["seconds"]),
            samples_per_second=float(meta["samples_per_second"]),
            losses=[float(x) for x in meta["losses"]],
            validation_curve=[float(x) for x in meta["validation_curve"]],
        )

    def put(self, content_digest: str, adapter: TrainedAdapter) -> None:
        from safetensors.torch import save_file

        tensors_path, meta_path = self._paths(content_digest)
        self.directory.mkdir(parents=True, exist_ok=True)
        meta = {
            "train_groups": adapter.train_groups,
            "train_samples": adapter.train_samples,
            "validation_auc": adapter.validation_auc,
            "best_epoch": adapter.best_epoch,
            "seconds": adapter.seconds,
            "samples_per_second": adapter.samples_per_second,
            "losses": adapter.losses,
            "validation_curve": adapter.validation_curve,
        }
        _atomic_write(meta_path, lambda p: p.write_text(json.dumps(meta, sort_keys=True)))
        tensors = {k: v.detach().contiguous() for k, v in adapter.tensors.items()}
        _atomic_write(tensors_path, lambda p: save_file(tensors, str(p)))
