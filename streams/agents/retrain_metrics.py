"""Retrain metrics, counted by the worker from the trainer's reports.

The trainer is its own process and serves no ``/metrics``; the worker is what Prometheus
scrapes. Every run the trainer finishes reaches the worker anyway: a published set through
``POST /adapters/retrained/`` (its detail carries ``kind``, ``seconds`` and each shard's
``retrained`` flag), a failed run through ``POST /adapters/retrain-failed/``. So the worker
counts both, and one scrape shows deletions, dirty shards and the retrains that clear them.

* ``streamrec_retrains_total{kind, outcome}``: kind ``deletion`` (retrain at the set's cut after
  purges) or ``refresh`` (continuous learning); outcome ``retrained`` (at least one shard
  trained), ``unchanged`` (every shard kept its file) or ``failed``.
* ``streamrec_retrain_seconds{kind}``: export to publish, as the trainer timed it.

A report is counted once per set version (``RetrainReports``): the trainer repeats a report
the worker did not answer, and ``DirtyShards.retrained`` answers a repeat with the same
requests, which would count their ``retrained`` stage twice. A report without ``seconds`` (a set
published before a trainer restart and reported after it) still counts its requests'
``retrained`` stage but says nothing about the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from streams import metrics

__all__ = ["KINDS", "Kind", "RetrainReports", "observe_failed", "retrain_kind"]

Kind = Literal["deletion", "refresh"]
KINDS: tuple[Kind, ...] = ("deletion", "refresh")


def retrain_kind(value: object) -> Kind | None:
    """``value`` as a retrain kind, or None: only known kinds become label values."""
    for kind in KINDS:
        if value == kind:
            return kind
    return None


@dataclass
class RetrainReports:
    """The worker's count of published runs, one per set version."""

    # Versions already counted by this worker: one per published set, so it stays small.
    seen: set[str] = field(default_factory=set)

    def published(self, version: str, detail: Mapping[str, Any], requests: int) -> bool:
        """Count the report that ``version`` is published and cleared ``requests`` deletions.

        Returns False (nothing counted) for a version already counted.
        """
        if version in self.seen:
            return False
        self.seen.add(version)
        metrics.DELETIONS.labels(stage="retrained").inc(requests)
        kind = retrain_kind(detail.get("kind"))
        seconds = detail.get("seconds")
        if kind is not None and isinstance(seconds, int | float):
            shards = detail.get("shards") or []
            trained = any(isinstance(s, Mapping) and s.get("retrained") for s in shards)
            metrics.RETRAINS.labels(kind=kind, outcome="retrained" if trained else "unchanged").inc()
            metrics.RETRAIN_SECONDS.labels(kind=kind).observe(float(seconds))
        return True


def observe_failed(kind: Kind) -> None:
    """Count one run that raised before it published anything."""
    metrics.RETRAINS.labels(kind=kind, outcome="failed").inc()
