"""Prometheus text scrapes as numbers: sums by label, counter rates, histogram quantiles.

What ``streams.bench.dashboard`` needs to draw Grafana-like panels without a Prometheus server:
each helper is the small, pure counterpart of a PromQL function over two scrapes of the same
endpoint, so a panel reads like its query in ``deploy/grafana/streamrec.json``:

* ``total(s, name, by=("lane",))``: ``sum by (lane) (name)``;
* ``rate(a, b, name)``: ``rate(name[b.at - a.at])`` (a counter that went down was reset, as
  Prometheus assumes, and counts from zero);
* ``window_quantile(a, b, name, 0.95)``: ``histogram_quantile(0.95, sum by (le)
  (rate(name_bucket[...])))``, interpolated inside the bucket as Prometheus does.

Names are the sample names of prometheus-client's parser, which writes every counter's samples
as ``<name>_total``: Triton's ``nv_inference_request_success`` is read here as
``nv_inference_request_success_total`` (Prometheus itself stores it without the suffix).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Key", "Scrape", "histogram_quantile", "increase", "parse", "rate", "total", "window_quantile"]

Key = tuple[str, ...]  # the values of the ``by`` labels, in order


@dataclass(frozen=True)
class Scrape:
    """The samples of one or more endpoints, read at ``at`` (epoch seconds)."""

    at: float
    # sample name (``x_total``, ``x_bucket``, ...) -> (labels, value) of each series
    samples: dict[str, list[tuple[dict[str, str], float]]] = field(default_factory=dict)


def parse(texts: Sequence[str | None], at: float) -> Scrape:
    """One ``Scrape`` from the text of several endpoints (a missing one is None) read together."""
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for text in texts:
        if text is None:
            continue
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
    return Scrape(at, samples)


def total(
    scrape: Scrape, name: str, where: Mapping[str, str] | None = None, by: Sequence[str] = ()
) -> dict[Key, float]:
    """``sum by (by) (name{where})``: empty when the scrape has no such series."""
    out: dict[Key, float] = {}
    for labels, value in scrape.samples.get(name, []):
        if where and any(labels.get(k) != v for k, v in where.items()):
            continue
        key = tuple(labels.get(label, "") for label in by)
        out[key] = out.get(key, 0.0) + value
    return out


def increase(
    before: Scrape, after: Scrape, name: str, where: Mapping[str, str] | None = None, by: Sequence[str] = ()
) -> dict[Key, float]:
    """How much a counter grew between two scrapes, per ``by`` group.

    A group that went down was reset (the process restarted) and counts from zero, as in
    Prometheus; a group absent from ``before`` (a new series) counts from zero too.
    """
    old = total(before, name, where, by)
    out: dict[Key, float] = {}
    for key, now in total(after, name, where, by).items():
        then = old.get(key, 0.0)
        out[key] = now - then if now >= then else now
    return out


def rate(
    before: Scrape, after: Scrape, name: str, where: Mapping[str, str] | None = None, by: Sequence[str] = ()
) -> dict[Key, float]:
    """Per-second ``increase``; empty when the two scrapes are not apart in time."""
    seconds = after.at - before.at
    if seconds <= 0:
        return {}
    return {key: grown / seconds for key, grown in increase(before, after, name, where, by).items()}


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """The q-quantile of cumulative ``(le, count)`` buckets, as PromQL's ``histogram_quantile``.

    None when the buckets hold no observation. The rank is interpolated linearly inside its
    bucket (from 0 for the first one); a rank in the ``+Inf`` bucket answers the highest finite
    bound, since nothing is known above it (Prometheus' ``bucketQuantile``).
    """
    if not 0 <= q <= 1:
        raise ValueError(f"q must be in [0, 1], got {q}")
    ordered = sorted(buckets)
    if len(ordered) < 2 or not math.isinf(ordered[-1][0]) or ordered[-1][1] <= 0:
        return None
    rank = q * ordered[-1][1]
    # 1. The first finite bucket holding the rank; none means it lies in +Inf.
    index = next((i for i, (_, count) in enumerate(ordered[:-1]) if count >= rank), None)
    if index is None:
        return ordered[-2][0]
    upper, count = ordered[index]
    if index == 0 and upper <= 0:
        return upper
    # 2. Linear interpolation inside it (the first bucket starts at 0).
    lower, below = ordered[index - 1] if index > 0 else (0.0, 0.0)
    inside = count - below
    return lower if inside <= 0 else lower + (upper - lower) * (rank - below) / inside


def window_quantile(
    before: Scrape, after: Scrape, name: str, q: float, where: Mapping[str, str] | None = None
) -> float | None:
    """The q-quantile of what histogram ``name`` observed between two scrapes (its ``_bucket``
    deltas summed over every other label); None when it observed nothing."""
    grown = increase(before, after, f"{name}_bucket", where, by=("le",))
    return histogram_quantile(q, [(float(le), count) for (le,), count in grown.items()])
