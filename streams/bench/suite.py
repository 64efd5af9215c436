"""The speed suite's summary table: scoring, cross-user batching, training and unlearning.

    python -m streams.bench.suite [--reports reports/bench]

``make bench`` runs four older benchmark scripts with ``--out reports/bench``; each writes a
JSON report of a ratio it measured in one run (both sides in the same process or on the same
store). This module reads them and writes ``suite.md``, one row per ratio with its date, so the
README's benchmark block (``streams.bench.readme``) shows them beside the scoring-step,
ingest and latency reports. A missing report becomes a row that says "not measured".

* ``adapters.json`` (``serving.bench.adapters``): K aggregated adapters against the base model;
* ``gpu_check.json`` (``serving.bench.gpu_check``, on the CPU here): M users per Triton call
  against one user per call;
* ``training.json`` (``models.bench.training``): shared-prefix LoRA training against naive;
* ``unlearning.json`` (``streams.bench.unlearning``): forgetting one user against a full
  retrain of all K shards.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main", "rows"]

HEADER = "| what (one run, both sides measured together) | baseline | measured | ratio | goal | date |"


def _load(path: Path) -> tuple[dict[str, Any], str] | None:
    if not path.is_file():
        return None
    body = json.loads(path.read_text(encoding="utf-8"))
    # No file dates: a fresh clone would date every old report today.
    return body, str(body.get("date") or "undated")


def _missing(what: str, script: str) -> str:
    return f"| {what} | – | not measured (`{script}`) | – | – | – |"


def rows(reports: Path) -> list[str]:
    """The table's rows, from whichever reports exist under ``reports``."""
    out = []
    found = _load(reports / "adapters.json")
    what = "scoring 20 candidates with K aggregated adapters"
    if found is None:
        out.append(_missing(what, "python -m serving.bench.adapters --out reports/bench"))
    else:
        r, date = found
        out.append(
            f"| scoring {r['candidates']} candidates ({r['context_tokens']}-token context) with "
            f"K = {r['shards']} aggregated adapters | {r['base_ms']:,.0f} ms base model | "
            f"{r['adapters_ms']:,.0f} ms | {r['ratio']:.2f}x cost | <= {r['goal']}x | {date} |"
        )
    found = _load(reports / "gpu_check.json")
    what = "cross-user batching through Triton"
    if found is None or "scoring" not in found[0]:
        out.append(_missing(what, "python -m serving.bench.gpu_check --device cpu --out reports/bench"))
    else:
        r, date = found
        scoring = sorted((int(size), row) for size, row in r["scoring"].items())
        base_size, one = scoring[0]
        for size, row in scoring[1:]:
            ratio = row["users_per_second"] / one["users_per_second"]
            out.append(
                f"| {size} users per Triton call ({r.get('device', 'cpu')}) | "
                f"{one['users_per_second']:.2f} users/s at {base_size} per call | "
                f"{row['users_per_second']:.2f} users/s | {ratio:.2f}x throughput | "
                f"not slower on the CPU | {date} |"
            )
    found = _load(reports / "training.json")
    what = "LoRA training, shared prefix against naive"
    if found is None:
        out.append(_missing(what, "python -m models.bench.training --out reports/bench"))
    else:
        r, date = found
        naive, shared = r["results"]["naive"], r["results"]["shared_prefix"]
        out.append(
            f"| LoRA training, {r['groups']} {r['data']} groups | {naive['samples_per_second']:.2f} "
            f"samples/s naive | {shared['samples_per_second']:.2f} samples/s shared prefix | "
            f"{r['speedup']:.2f}x faster | – | {date} |"
        )
    found = _load(reports / "unlearning.json")
    what = "forgetting one user against a full retrain"
    if found is None:
        out.append(_missing(what, "python -m streams.bench.unlearning --out reports/bench"))
    else:
        r, date = found
        seconds = r["seconds"]
        full, forget = seconds["full retrain (K shards)"], seconds["forget -> retrained"]
        exact = "byte-identical to the full retrain" if r.get("verified_exact") else "NOT verified exact"
        out.append(
            f"| forgetting one user ({r['users']} users, K = {r['config']['shards']}; {exact}) | "
            f"{full:,.0f} s full retrain | {forget:,.0f} s forget -> retrained | "
            f"{r['forget_over_full']:.2f}x the cost | <= {r['goal']:.2f}x | {date} |"
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m streams.bench.suite", description=__doc__)
    parser.add_argument("--reports", type=Path, default=Path("reports/bench"))
    args = parser.parse_args(argv)
    lines = [
        "# Scoring, batching, training and unlearning",
        "",
        "Each row is one benchmark script's report (see `streams/bench/suite.py`); absolute "
        "figures are from the dated run on this 2-core CPU, so read the ratios.",
        "",
        HEADER,
        "|---|---|---|---|---|---|",
        *rows(args.reports),
    ]
    args.reports.mkdir(parents=True, exist_ok=True)
    (args.reports / "suite.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
