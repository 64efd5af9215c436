"""Ranking metrics with pessimistic ties and bootstrap confidence intervals.

Every target has exactly one positive, so each metric is a function of the positive's rank:

- rank = 1 + the number of *other* candidates scored >= the positive (ties count against
  it, so a constant scorer ranks every positive last instead of first);
- Recall@K (= HitRate@K with one positive) = 1 if rank <= K;
- MRR@K = 1 / rank if rank <= K, else 0;
- NDCG@K = 1 / log2(rank + 1) if rank <= K, else 0 (the ideal DCG is 1).

The 95% interval is a percentile bootstrap over targets (one per user and split), with a
seeded generator, so a report is reproducible to the last digit. Every model is resampled
with the same indices, so :func:`paired_difference` can bootstrap the *difference* between two
models on the same targets: two overlapping intervals do not mean "no difference", but a
paired interval that excludes 0 does mean one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "METRIC_NAMES",
    "BootstrapConfig",
    "MetricValue",
    "metric_table",
    "paired_difference",
    "positive_rank",
    "summarize",
]

METRIC_NAMES: tuple[str, ...] = ("recall@3", "recall@5", "recall@10", "mrr@3", "mrr@5", "mrr@10", "ndcg@10")


@dataclass(frozen=True)
class BootstrapConfig:
    resamples: int = 1000  # percentile CIs are stable to ~0.005 at 1000 resamples
    confidence: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.resamples, bool) or not isinstance(self.resamples, int) or self.resamples < 1:
            raise ValueError(f"BootstrapConfig.resamples must be a positive integer, got {self.resamples!r}")
        if not 0 < self.confidence < 1:
            raise ValueError(f"BootstrapConfig.confidence must be in (0, 1), got {self.confidence!r}")


@dataclass(frozen=True)
class MetricValue:
    value: float
    ci95: tuple[float, float]

    def as_dict(self) -> dict[str, float | list[float]]:
        return {"value": self.value, "ci95": [self.ci95[0], self.ci95[1]]}


def positive_rank(scores: Sequence[float] | npt.NDArray[np.floating], positive_index: int) -> int:
    """1-based rank of the positive, ties broken against it. NaN scores are rejected."""
    values = np.asarray(scores, dtype=np.float64)
    if values.ndim != 1 or not 0 <= positive_index < len(values):
        raise ValueError(f"positive_index {positive_index} is outside scores of shape {values.shape}")
    if np.isnan(values).any():
        raise ValueError("scores contain NaN; a ranker must score every candidate")
    others = np.delete(values, positive_index)
    return 1 + int(np.count_nonzero(others >= values[positive_index]))


def metric_table(ranks: Sequence[int] | npt.NDArray[np.integer]) -> dict[str, npt.NDArray[np.float64]]:
    """Per-target value of every metric in :data:`METRIC_NAMES`, from the positives' ranks."""
    r = np.asarray(ranks, dtype=np.float64)
    table: dict[str, npt.NDArray[np.float64]] = {}
    for k in (3, 5, 10):
        hit = r <= k
        table[f"recall@{k}"] = hit.astype(np.float64)
        table[f"mrr@{k}"] = np.where(hit, 1.0 / r, 0.0)
    table["ndcg@10"] = np.where(r <= 10, 1.0 / np.log2(r + 1.0), 0.0)
    return {name: table[name] for name in METRIC_NAMES}


def _interval(values: npt.NDArray[np.float64], config: BootstrapConfig) -> tuple[float, float]:
    rng = np.random.default_rng(config.seed)
    n = len(values)
    means = np.empty(config.resamples)
    step = max(1, 2_000_000 // max(n, 1))  # bound the index matrix to ~16 MB
    for start in range(0, config.resamples, step):
        stop = min(start + step, config.resamples)
        means[start:stop] = values[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    tail = (1 - config.confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return (float(low), float(high))


def summarize(
    ranks: Sequence[int] | npt.NDArray[np.integer], config: BootstrapConfig = BootstrapConfig()
) -> dict[str, MetricValue]:
    """Mean and bootstrap CI of every metric over the given targets' ranks."""
    if len(ranks) == 0:
        raise ValueError("summarize: need at least one rank")
    if min(int(r) for r in ranks) < 1:
        raise ValueError(f"summarize: ranks are 1-based, got {min(int(r) for r in ranks)}")
    summary: dict[str, MetricValue] = {}
    for name, values in metric_table(ranks).items():
        mean = float(values.mean())
        low, high = _interval(values, config)
        summary[name] = MetricValue(value=mean, ci95=(min(low, mean), max(high, mean)))
    if any(math.isnan(m.value) for m in summary.values()):
        raise ValueError("summarize: a metric came out NaN")
    return summary


def paired_difference(
    ranks_a: Sequence[int] | npt.NDArray[np.integer],
    ranks_b: Sequence[int] | npt.NDArray[np.integer],
    metric: str,
    config: BootstrapConfig = BootstrapConfig(),
) -> MetricValue:
    """Mean of ``metric`` for A minus B over the same targets, with a paired bootstrap CI.

    ``ranks_a[i]`` and ``ranks_b[i]`` must be the ranks of the two models on target i.
    """
    if len(ranks_a) != len(ranks_b) or len(ranks_a) == 0:
        raise ValueError(
            f"paired_difference: need equal, non-empty rank lists, got {len(ranks_a)} and {len(ranks_b)}"
        )
    if metric not in METRIC_NAMES:
        raise ValueError(f"paired_difference: metric must be one of {METRIC_NAMES}, got {metric!r}")
    diff = metric_table(ranks_a)[metric] - metric_table(ranks_b)[metric]
    mean = float(diff.mean())
    low, high = _interval(diff, config)
    return MetricValue(value=mean, ci95=(min(low, mean), max(high, mean)))
