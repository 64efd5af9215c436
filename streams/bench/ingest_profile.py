"""The py-spy side of the ingest benchmark: where the worker's busy time goes.

``streams.bench.ingest_ceiling`` records the worker with ``py-spy record --format raw
--threads`` (every thread, without pausing it; cProfile would see only the event loop, not the
DuckDB store thread) and hands the raw stack file to :func:`profile_groups`.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

__all__ = ["GROUPS", "STAGES", "profile_groups", "py_spy"]

# Profile groups: a function belongs to the first group whose marker is in its file path.
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("JSON + validation (pydantic)", ("json/", "pydantic", "streams/contracts")),
    ("DuckDB + Arrow", ("duckdb", "pyarrow", "streams/store")),
    ("Kafka client (aiokafka)", ("aiokafka", "kafka/")),
    ("Faust + mode", ("faust/", "mode/")),
    ("asyncio + selectors", ("asyncio/", "selectors")),
)

# Frames whose inclusive share the report lists: what the worker does per micro-batch.
STAGES: tuple[tuple[str, str], ...] = (
    ("handle_click_batch", "the clicks agent's batch (all of it)"),
    ("split_batch", "validation (JSON + pydantic)"),
    ("clicks (streams/store/ingest.py", "the DuckDB transaction (store thread)"),
    ("streams/delivery/intake.py", "the micro-batcher (streams.delivery.intake)"),
    ("streams/delivery/channel_reader.py", "the bulk channel reader (streams.delivery.channel_reader)"),
    ("getmany", "aiokafka fetch"),
)


def profile_groups(path: Path, top: int = 12) -> dict[str, Any]:
    """Shares of py-spy's samples: per thread, per group of the sampled (leaf) frame, per stage
    (inclusive: a stage's frame anywhere on the stack), and the top leaf functions."""
    samples: list[tuple[list[str], int]] = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            samples.append((stack.split(";"), int(count)))
    total = sum(n for _, n in samples)
    threads: dict[str, int] = {}
    groups = {name: 0 for name, _ in GROUPS} | {"other": 0}
    stages = {label: 0 for _, label in STAGES}
    leaves: dict[str, int] = {}
    for frames, n in samples:
        thread = frames[0].partition(": ")[2] or frames[0]  # "thread (tid): name"
        threads[thread] = threads.get(thread, 0) + n
        leaf = frames[-1]
        group = next((name for name, marks in GROUPS if any(m in leaf for m in marks)), "other")
        groups[group] += n
        leaves[leaf] = leaves.get(leaf, 0) + n
        for marker, label in STAGES:
            if any(marker in frame for frame in frames[1:]):
                stages[label] += n

    def share(n: int) -> float:
        return round(n / total, 3) if total else 0.0

    return {
        "samples": total,
        "threads": {k: share(v) for k, v in sorted(threads.items(), key=lambda kv: -kv[1])},
        "groups": {k: share(v) for k, v in groups.items()},
        "stages": {k: share(v) for k, v in stages.items()},
        "top": [{"function": k, "share": share(v)} for k, v in Counter(leaves).most_common(top)],
    }


def py_spy() -> str:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.is_file() else "py-spy"
