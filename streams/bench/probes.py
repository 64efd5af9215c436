"""What the benchmarks read off running processes: peak memory and the worker's stage timings.

Kept apart from the load generators so that every benchmark measures memory and stage times
the same way.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["STAGES", "peak_rss_mb", "stage_means", "tree_peak_rss_mb"]


def peak_rss_mb(pid: int | None) -> float | None:
    """Peak resident set size of a live process in MiB (``VmHWM``), None when unreadable."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


# Worker histograms whose means locate the time between a click and its recommendation.
STAGES = {
    "streamrec_ingest_batch_seconds": "ingest micro-batch (validate + durable write)",
    "streamrec_recommend_seconds": "one recommendation (retrieval + scoring + publish)",
    "streamrec_score_seconds": "Triton scoring round trip",
}


def stage_means(metrics_text: str) -> dict[str, float]:
    """Mean seconds (sum / count) of each :data:`STAGES` histogram in a Prometheus scrape."""
    from prometheus_client.parser import text_string_to_metric_families

    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name not in STAGES:
            continue
        for sample in family.samples:
            if sample.name.endswith("_sum"):
                sums[family.name] = sums.get(family.name, 0.0) + sample.value
            elif sample.name.endswith("_count"):
                counts[family.name] = counts.get(family.name, 0.0) + sample.value
    return {name: sums[name] / counts[name] for name in STAGES if counts.get(name)}


def tree_peak_rss_mb(pid: int | None) -> float | None:
    """Sum of the peak RSS of ``pid`` and all its descendants (tritonserver runs each Python
    backend model in a child stub process, which holds the LLM)."""
    if pid is None:
        return None
    total, stack, seen = 0.0, [pid], set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        total += peak_rss_mb(current) or 0.0
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                stack.extend(int(child) for child in task.read_text().split())
            except OSError:
                continue
    return total
