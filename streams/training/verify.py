"""Rebuild a published adapter set from scratch and compare it, byte for byte, with what is served.

This is the audit of "exact": anyone can rerun the recorded, deterministic procedure on the
retained data and check that the served files are what it produces (Thudi et al.: unlearning is
auditable at the level of the algorithm and its inputs). ``streamrec adapters verify VERSION``
runs it; a deletion's retrain is checked the same way.

What is rebuilt and what is taken as recorded:

* **Rebuilt from the data**: every shard's user assignment, its training and validation samples
  (their ids are hashed into ``sample_ids_sha256``), its LoRA adapter file, the validation index
  (``validation.npz``, every adapter's prediction on every validation sample) and the tuned
  weight rule. These are everything user data shapes.
* **Taken as recorded**: the catalog the set was trained on (``catalog.parquet``; the live
  catalog may have grown), the base-LLM item vectors (``items.npz``) and the semantic centroids
  (``partition.npz``). They are functions of the catalog and the base model alone (no user
  data shaped them), and recomputing them is a separate, data-free question.
* **The data cut**: the worker exports the retained data inside the set's cut (interactions up
  to its watermark, the summary versions it used), so data that arrived later is left out and
  data deleted since is, rightly, missing: a set that still holds a deleted user no longer
  verifies.

Byte identity holds under the recorded conditions (thread count, library versions, device);
the result lists any that differ now, since a mismatch is then expected rather than alarming.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from models.training.trainer import conditions, index_arrays, train_set
from serving.adapters import file_sha256, save_npz
from streams.training.cut import load_set_at_cut
from streams.training.job import set_files

__all__ = ["Check", "Verification", "verify_set"]


@dataclass(frozen=True)
class Check:
    """One compared artefact: the digest recorded when the set was published and the rebuilt one."""

    name: str
    recorded: str
    rebuilt: str

    @property
    def matches(self) -> bool:
        return self.recorded == self.rebuilt


@dataclass(frozen=True)
class Verification:
    version: str
    watermark: int
    checks: tuple[Check, ...]
    changed_conditions: dict[str, tuple[str, str]]  # name -> (recorded, now); empty when alike
    seconds: float

    @property
    def exact(self) -> bool:
        return all(c.matches for c in self.checks)


def _digest(parts: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def verify_set(
    snapshot: Path,
    adapters_root: Path,
    version: str,
    model_dir: Path,
    *,
    progress: Callable[[int, int, int, float], None] | None = None,
    keep_snapshot: bool = False,
) -> Verification:
    """Retrain every shard of ``version`` from ``snapshot`` (exported at the set's cut) and compare.

    Raises ``ValueError`` when the inputs cannot be the set's own (another watermark, another
    catalog, another base model), because a mismatch would then prove nothing.
    """
    started = time.perf_counter()
    try:
        inputs = load_set_at_cut(snapshot, adapters_root, version, model_dir)
        manifest, config, data, set_dir = inputs.manifest, inputs.config, inputs.data, inputs.directory
        trained = train_set(
            model_dir,
            data.users,
            data.catalog,
            data.catalog_order,
            config,
            item_vectors=inputs.item_vectors,
            partitioner=inputs.partitioner,
            log_steps=progress,
        )
        checks: list[Check] = []
        with tempfile.TemporaryDirectory(prefix="streamrec-verify-") as tmp:
            files = set_files(trained, Path(tmp), inputs.base_model)
            served: list[str] = []
            for k, recorded in enumerate(manifest["shards"]):
                checks.append(
                    Check(
                        f"shard-{k} samples", recorded["sample_ids_sha256"], trained.shards[k].sample_digest()
                    )
                )
                if "samples_content_sha256" in recorded:
                    checks.append(
                        Check(
                            f"shard-{k} sample contents",
                            recorded["samples_content_sha256"],
                            trained.shards[k].content_digest(),
                        )
                    )
                # The file on disk is what Triton serves; the manifest only claims its hash.
                served.append(file_sha256(set_dir / recorded["file"]))
                checks.append(Check(recorded["file"], served[-1], file_sha256(files.shard_sources[k])))
            checks.append(
                Check(
                    "manifest sha256 = served files",
                    _digest(s["sha256"] for s in manifest["shards"]),
                    _digest(served),
                )
            )
            save_npz(Path(tmp) / "validation.npz", index_arrays(trained.index))
            checks.append(
                Check(
                    "validation.npz",
                    file_sha256(set_dir / "validation.npz"),
                    file_sha256(Path(tmp) / "validation.npz"),
                )
            )
        rule = manifest["rule"]
        checks.append(
            Check(
                "weight rule",
                f"n={rule['neighbours']} tau={float(rule['tau']):g}",
                f"n={trained.rule.neighbours} tau={trained.rule.tau:g}",
            )
        )
        now = conditions(config.lora.threads)
        recorded_conditions = manifest.get("conditions", {})
        changed = {
            name: (str(recorded_conditions.get(name)), value)
            for name, value in now.items()
            if recorded_conditions.get(name) != value
        }
        return Verification(version, data.watermark, tuple(checks), changed, time.perf_counter() - started)
    finally:
        if not keep_snapshot:
            shutil.rmtree(snapshot, ignore_errors=True)
