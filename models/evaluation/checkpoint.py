"""Per-model checkpoints of an evaluation run, so a run of hours can resume instead of restart.

The fine-tuned rows cost most of an hour each on a 2-core CPU; a run that dies (or a session
that ends) before the last row would otherwise lose every finished row, because the report is
written at the end. After each model the runner writes ``checkpoints/<model>.json`` (its scores
per target, timings and info); ``streamrec eval --resume`` loads a checkpoint instead of
re-running the model, but only when its fingerprint matches: the same dataset files, the same
targets and candidates, and the same configuration of everything that shapes a score.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from models.evaluation.config import EvalConfig
from models.evaluation.data import Target
from models.evaluation.result import ModelResult

__all__ = ["fingerprint", "load_checkpoint", "save_checkpoint"]


def fingerprint(config: EvalConfig, digests: dict[str, str], targets: Sequence[Target]) -> str:
    """What a score depends on: data, targets with their candidates, and the scoring config."""
    shaping = {
        k: v
        for k, v in asdict(config).items()
        if k not in ("out", "progress", "models", "bootstrap", "resume")
    }
    body = {
        "digests": digests,
        "config": json.loads(json.dumps(shaping, default=str)),
        "targets": [[t.user_id, t.split, t.positive, list(t.candidates)] for t in targets],
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _path(out: Path, name: str) -> Path:
    return out / "checkpoints" / f"{name}.json"


def save_checkpoint(out: Path, result: ModelResult, print_: str) -> None:
    """Write one model's result atomically (a temporary file, fsynced, then renamed)."""
    path = _path(out, result.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "fingerprint": print_,
        "name": result.name,
        "fit_seconds": result.fit_seconds,
        "score_seconds": result.score_seconds,
        "info": json.loads(json.dumps(result.info, default=str)),
        # json writes floats with repr, which reads back to the same float64.
        "scores": [
            [user, split, [float(x) for x in values]] for (user, split), values in result.scores.items()
        ],
    }
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(body, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_checkpoint(out: Path, name: str, print_: str) -> ModelResult | None:
    """The saved result of ``name`` if it was made under the same fingerprint, else None."""
    path = _path(out, name)
    try:
        body: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if body.get("fingerprint") != print_ or body.get("name") != name:
        return None
    return ModelResult(
        name=name,
        scores={
            (user, split): np.asarray(values, dtype=np.float64) for user, split, values in body["scores"]
        },
        fit_seconds=float(body["fit_seconds"]),
        score_seconds=float(body["score_seconds"]),
        info={**body["info"], "resumed_from_checkpoint": True},
        ranker=None,
    )
