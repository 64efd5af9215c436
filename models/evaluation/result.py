"""What evaluating one ranker produced: its scores per target, timings and diagnostics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from models.evaluation.ranker import Ranker, Scores

__all__ = ["ModelResult"]


@dataclass
class ModelResult:
    name: str
    scores: dict[tuple[str, str], Scores]
    fit_seconds: float
    score_seconds: float
    info: dict[str, Any]
    ranker: Ranker | None  # None when loaded from a checkpoint
