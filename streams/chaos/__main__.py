"""``python -m streams.chaos``: run the fault scenarios and write ``chaos.json`` and ``chaos.md``.

    python -m streams.chaos [--scenarios 1,2,5] [--clicks N] [--kills K] [--quick] [--seed S]
                            [--out reports/chaos]

Scenarios: 1 repeated worker kills during a MovieLens replay, 2 Triton down under load,
3 broker down, 4 disk full under DuckDB, 5 trainer killed mid-retrain and mid-publish.
``--quick`` shrinks every scenario to a few minutes in all (5,000 clicks, 2 kills, shorter
outages); the full run (``make chaos``) replays 100,000 clicks with 5 kills and keeps every
outage at 30 s. Exit status 0 when no scenario failed (a SKIP is not a failure, and says why).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streams.chaos import broker_outage, disk_full, trainer_kills, triton_outage, worker_kills
from streams.chaos.harness import ChaosStack, ScenarioResult
from streams.chaos.report import console_lines, write_reports
from streams.replay import find_dataset

__all__ = ["SCENARIOS", "build_configs", "main", "run_scenarios"]

SCENARIOS: dict[int, str] = {
    1: worker_kills.NAME,
    2: triton_outage.NAME,
    3: broker_outage.NAME,
    4: disk_full.NAME,
    5: trainer_kills.NAME,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m streams.chaos",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--scenarios", default="1,2,3,4,5", help="comma-separated scenario numbers")
    parser.add_argument("--quick", action="store_true", help="small versions (minutes, not an hour)")
    parser.add_argument("--clicks", type=int, default=None, help="scenario 1 clicks (100000; quick 5000)")
    parser.add_argument("--kills", type=int, default=None, help="scenario 1 worker kills (5; quick 2)")
    parser.add_argument("--seed", type=int, default=0, help="seeds every fault moment and choice")
    parser.add_argument("--movielens", type=Path, default=None, help="ml-latest-small directory")
    parser.add_argument("--model-dir", type=Path, default=None, help="a tiny model dir (default: made once)")
    parser.add_argument("--work", type=Path, default=None, help="working directory (default: a temp dir)")
    parser.add_argument("--out", type=Path, default=Path("reports/chaos"))
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def build_configs(args: argparse.Namespace, movielens: Path | None) -> dict[int, Any]:
    """Each scenario's frozen config from the command line (``--quick`` picks the small sizes)."""
    quick, progress = bool(args.quick), not args.no_progress
    configs: dict[int, Any] = {
        2: triton_outage.TritonOutageConfig(
            down_s=15.0 if quick else 30.0, seed=args.seed, progress=progress
        ),
        3: broker_outage.BrokerOutageConfig(
            movielens=movielens, down_s=15.0 if quick else 30.0, seed=args.seed, progress=progress
        ),
        4: disk_full.DiskFullConfig(movielens=movielens, seed=args.seed, progress=progress),
        5: trainer_kills.TrainerKillsConfig(movielens=movielens, seed=args.seed),
    }
    if movielens is not None:
        clicks = args.clicks if args.clicks is not None else (5_000 if quick else 100_000)
        configs[1] = worker_kills.WorkerKillsConfig(
            movielens=movielens,
            clicks=clicks,
            kills=args.kills if args.kills is not None else (2 if quick else 5),
            deletions=2 if quick else 3,
            # Paced so every kill lands while clicks flow: a restart takes ~20 s here (the killed
            # member's 10 s session must expire), 5 kills with 2-12 s gaps about 150 s.
            rate=125.0 if quick else 600.0,
            gap_low_s=2.0,
            gap_high_s=6.0 if quick else 12.0,
            seed=args.seed,
            progress=progress,
        )
    return configs


def _runner(number: int) -> Callable[[ChaosStack, Any], ScenarioResult]:
    module = {1: worker_kills, 2: triton_outage, 3: broker_outage, 4: disk_full, 5: trainer_kills}[number]
    run: Callable[[ChaosStack, Any], ScenarioResult] = module.run
    return run


def run_scenarios(
    stack: ChaosStack, numbers: list[int], configs: dict[int, Any], echo: Callable[[str], None] = print
) -> list[ScenarioResult]:
    """Run each scenario in turn; an exception fails that scenario and the run goes on."""
    results: list[ScenarioResult] = []
    for number in numbers:
        started = time.monotonic()
        echo(f"== scenario {number}: {SCENARIOS[number]}")
        config = configs.get(number)
        if config is None:
            result = ScenarioResult(number, SCENARIOS[number], skipped="MovieLens not found (--movielens)")
        else:
            try:
                if stack.triton is None or not stack.triton.running():
                    echo(f"   starting tritonserver (tiny model) took {stack.start_triton():.0f} s")
                result = _runner(number)(stack, config)
            except Exception:
                result = ScenarioResult(number, SCENARIOS[number], error=traceback.format_exc(limit=8))
        result.seconds = time.monotonic() - started
        for line in console_lines(result):
            echo(line)
        results.append(result)
    return results


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        numbers = sorted({int(n) for n in args.scenarios.split(",") if n.strip()})
    except ValueError:
        _parser().error(f"--scenarios takes numbers like 1,2,5, got {args.scenarios!r}")
    unknown = [n for n in numbers if n not in SCENARIOS]
    if unknown or not numbers:
        _parser().error(f"unknown scenarios {unknown}; choose from {sorted(SCENARIOS)}")
    movielens = args.movielens or find_dataset("movielens", os.environ)
    configs = build_configs(args, movielens)
    work = args.work or Path(tempfile.mkdtemp(prefix="streamrec-chaos-"))
    started, wall = time.monotonic(), dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    print(f"chaos: scenarios {numbers}, work dir {work}, logs there", flush=True)
    with ChaosStack(work, args.model_dir) as stack:
        results = run_scenarios(stack, numbers, configs, echo=lambda line: print(line, flush=True))
    run = {
        "started": wall,
        "seconds": time.monotonic() - started,
        "command": shlex.join(
            [os.path.basename(sys.executable), "-m", "streams.chaos", *(argv or sys.argv[1:])]
        ),
        "seed": args.seed,
        "quick": bool(args.quick),
        "work_dir": str(work),
        "movielens": str(movielens) if movielens else None,
    }
    json_path, md_path = write_reports(args.out, results, run)
    print("\n" + "\n".join(f"scenario {r.number}: {r.status}" for r in results))
    print(f"wrote {json_path} and {md_path}")
    return 1 if any(r.status == "FAIL" for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
