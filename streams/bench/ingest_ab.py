"""Benchmark: the worker's ingest at two commits, paired on one broker (an A/B).

    python -m streams.bench.ingest_ab BASELINE [CANDIDATE] [--clicks 100000] [--rounds 3]

BASELINE and CANDIDATE are git revisions of this repository; CANDIDATE defaults to the working
tree as it is, uncommitted changes included. A change to the ingest path is worth a few percent
at most, and single runs on a shared machine swing by more, so only a paired, alternating run
on one broker can show it; the ingest report (``streams.bench.ingest_ceiling``) compares the
worker with bare Faust, not with itself.

Each revision is exported with ``git archive`` and its worker runs from the export
(``run_worker(source=...)``): the export goes first on ``PYTHONPATH``, and the worker starts
outside the checkout, because ``python -m`` puts the working directory ahead of ``PYTHONPATH``.
Started from the checkout, both sides of two A/Bs on 2026-12-07 ran the same code. So before
the rounds each side is asked which ``streams`` package it imports, and a side that would not
run its own code stops the benchmark.

N MovieLens clicks are published once; each round runs bare Faust, the baseline and the
candidate, in an order that rotates from round to round (the harness and bare Faust are this
checkout's). The result: each side's median clicks/s, the median of the rounds'
candidate / baseline ratios, and each side against bare Faust in the same round. Writes
``ingest_ab.json`` and ``ingest_ab.md``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from streams.bench.ingest_ceiling import run_bare_faust, run_worker
from streams.contracts import CLICKS
from streams.kafka import ContractProducer, ensure_topics
from streams.local import TansuBroker, free_port
from streams.replay import DEFAULT_MOVIELENS, load_movielens

__all__ = ["export_revision", "imported_from", "main"]

ROOT = Path(__file__).resolve().parents[2]
WORKING_TREE = "working tree"


def export_revision(revision: str, dest: Path) -> Path:
    """``git archive`` of ``revision`` unpacked into ``dest``; the working tree is the checkout."""
    if revision == WORKING_TREE:
        return ROOT
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", revision], check=True, capture_output=True
    ).stdout
    dest.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def imported_from(source: Path, cwd: Path) -> Path:
    """Where a process started as the worker is (``run_worker``) finds the ``streams`` package."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(source), os.environ.get("PYTHONPATH")])),
    }
    out = subprocess.run(
        [sys.executable, "-c", "import streams; print(streams.__file__)"],
        env=env,
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return Path(out.strip()).resolve().parent


def _markdown(report: dict[str, object]) -> str:
    rounds = report["rounds"]
    assert isinstance(rounds, list)
    lines = [
        f"# Ingest A/B: {report['baseline']} against {report['candidate']} ({report['date']})",
        "",
        f"{report['clicks']:,} MovieLens clicks on one broker, {len(rounds)} rounds; each round ran bare "
        "Faust and both workers in a rotated order.",
        "",
        "| round | bare Faust /s | baseline /s | candidate /s | candidate / baseline |",
        "|---|---|---|---|---|",
    ]
    for n, r in enumerate(rounds, 1):
        lines.append(
            f"| {n} | {r['bare_faust_per_s']:,.0f} | {r['baseline_per_s']:,.0f} | "
            f"{r['candidate_per_s']:,.0f} | {r['candidate_over_baseline']:.3f} |"
        )
    lines += [
        "",
        f"Median candidate / baseline **{report['candidate_over_baseline']:.3f}**; against bare "
        f"Faust in the same round, baseline {report['baseline_over_bare_faust']:.2f}x and candidate "
        f"{report['candidate_over_bare_faust']:.2f}x (medians).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("baseline", help="a git revision, e.g. HEAD~1")
    parser.add_argument(
        "candidate", nargs="?", default=WORKING_TREE, help="a git revision (default: the working tree)"
    )
    parser.add_argument("--clicks", type=int, default=100_000)
    parser.add_argument("--movielens", type=Path, default=DEFAULT_MOVIELENS)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=900.0, help="per reader, seconds")
    parser.add_argument("--out", type=Path, default=Path("reports/bench"))
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    work = Path(tempfile.mkdtemp(prefix="streamrec-ingest-ab-"))
    sides = {
        "baseline": export_revision(args.baseline, work / "baseline-src"),
        "candidate": export_revision(args.candidate, work / "candidate-src"),
    }
    for side, source in sides.items():
        found = imported_from(source, work)
        if found != (source / "streams").resolve():
            raise SystemExit(f"the {side} worker would import {found}, not {source / 'streams'}")
        print(f"{side}: {args.baseline if side == 'baseline' else args.candidate} from {source}")

    clicks = load_movielens(args.movielens).clicks[: args.clicks]
    broker = TansuBroker(port=free_port(), log_path=work / "tansu.log")
    broker.start()
    rounds: list[dict[str, float]] = []
    try:
        ensure_topics(broker.bootstrap, 4)
        with ContractProducer(broker.bootstrap) as producer:
            pairs = ((c.user_id, c) for c in clicks)
            producer.send_all(CLICKS, pairs, total=len(clicks), progress=True, description="publish")
        readers = ["bare_faust", "baseline", "candidate"]
        for n in range(args.rounds):
            order = readers[n % 3 :] + readers[: n % 3]  # each reader goes first in turn
            per_s: dict[str, float] = {}
            for which in order:
                if which == "bare_faust":
                    reader = run_bare_faust(broker.bootstrap, len(clicks), work / f"faust{n}", args.timeout)
                else:
                    reader = run_worker(
                        broker.bootstrap, len(clicks), work, f"{which}{n}", args.timeout, source=sides[which]
                    )
                per_s[which] = reader.per_s
            row = {f"{k}_per_s": round(v, 1) for k, v in per_s.items()}
            row["candidate_over_baseline"] = round(per_s["candidate"] / per_s["baseline"], 4)
            rounds.append(row)
            print(
                f"round {n + 1}: bare Faust {per_s['bare_faust']:,.0f}/s, "
                f"baseline {per_s['baseline']:,.0f}/s, candidate {per_s['candidate']:,.0f}/s, "
                f"candidate / baseline {row['candidate_over_baseline']:.3f}"
            )
    finally:
        broker.stop()

    def median_of(key: str) -> float:
        return round(statistics.median(r[key] for r in rounds), 4)

    report: dict[str, object] = {
        "date": time.strftime("%Y-%m-%d"),
        "baseline": args.baseline,
        "candidate": args.candidate,
        "clicks": len(clicks),
        "rounds": rounds,
        "candidate_over_baseline": median_of("candidate_over_baseline"),
        "baseline_over_bare_faust": round(
            statistics.median(r["baseline_per_s"] / r["bare_faust_per_s"] for r in rounds), 3
        ),
        "candidate_over_bare_faust": round(
            statistics.median(r["candidate_per_s"] / r["bare_faust_per_s"] for r in rounds), 3
        ),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ingest_ab.json").write_text(json.dumps(report, indent=2) + "\n")
    markdown = _markdown(report)
    (args.out / "ingest_ab.md").write_text(markdown)
    print(markdown)


if __name__ == "__main__":
    main()
