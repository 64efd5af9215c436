"""Benchmark: a click batch's DuckDB write next to a busy event loop, by number of calls.

    python -m streams.bench.gil_contention [--batches 15] [--batch-size 2000] [--out reports/bench]

Why this exists: in the worker the store thread writes each micro-batch while the event-loop
thread runs Faust, which holds the GIL nearly all the time. Each call into DuckDB releases the
GIL and must win it back afterwards, which can take up to the interpreter's switch interval
(5 ms) when another thread is running Python. The py-spy profile of the ingest benchmark
showed statements that take well under a millisecond alone costing ~20 ms each in the worker.

The write is measured two ways, on the same MovieLens batches and the same SQL:

* **one call per statement**: BEGIN, each statement of ``store_clicks_sql``, COMMIT and the
  answer, each its own ``execute`` (the shape ingest had before);
* **one script**: ``Database.atomic_script``, the whole transaction in one call (what
  ``Ingest.clicks`` does).

Each runs alone ("idle") and beside a thread that spins Python bytecode ("busy", a stand-in
for the event loop). Both variants load the batch with the same parameterised statement first.
Prints the median milliseconds per batch and writes ``gil_contention.json``, ``.md`` and ``.png``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tqdm import tqdm

from streams.replay import DEFAULT_MOVIELENS, load_movielens
from streams.store import (
    CLICK_BATCH_TABLE_SQL,
    STORE_CLICKS_ANSWER,
    ClickRow,
    Database,
    click_batch_columns,
    store_clicks_sql,
)

__all__ = ["main", "statements"]

Write = Callable[[Database, str], int]  # returns the clicks inserted


def statements(script: str) -> list[str]:
    """The statements of a SQL script, without comment-only pieces (split at ``;``: the
    ingest script has no ``;`` inside literals)."""
    out = []
    for piece in script.split(";"):
        code = "\n".join(line for line in piece.splitlines() if not line.strip().startswith("--"))
        if code.strip():
            out.append(piece.strip())
    return out


def _one_call_per_statement(db: Database, script: str) -> int:
    with db.transaction() as con:
        for statement in statements(script):
            con.execute(statement)
    row = db.con.execute(STORE_CLICKS_ANSWER).fetchone()
    return int(row[0]) if row else 0


def _one_script(db: Database, script: str) -> int:
    return int(db.atomic_script(script, STORE_CLICKS_ANSWER)[0])


@contextmanager
def _busy_python(enabled: bool) -> Iterator[list[int]]:
    """A thread spinning Python bytecode while the block runs; yields its [loops done]."""
    done = [0]
    stop = threading.Event()

    def spin() -> None:
        total = 0
        while not stop.is_set():
            for n in range(1000):
                total += n
            done[0] += 1

    thread = threading.Thread(target=spin, daemon=True)
    if enabled:
        thread.start()
    try:
        yield done
    finally:
        stop.set()
        if enabled:
            thread.join()


def _measure(
    rows: Sequence[ClickRow], batch_size: int, write: Write, busy: bool, label: str
) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="streamrec-gil-") as work:
        db = Database(Path(work) / "bench.duckdb")
        try:
            times = []
            stored = 0
            batches = range(0, len(rows), batch_size)
            with _busy_python(busy) as spins:
                started = time.perf_counter()
                for n, start in enumerate(tqdm(batches, desc=label, unit="batch", leave=False)):
                    batch = rows[start : start + batch_size]
                    t = time.perf_counter()
                    db.con.execute(CLICK_BATCH_TABLE_SQL, click_batch_columns(batch, db.user_key))
                    stored += write(db, store_clicks_sql(int(time.time() * 1000), "clicks", {0: n + 1}))
                    times.append(time.perf_counter() - t)
                elapsed = time.perf_counter() - started
        finally:
            db.close()
    if stored != len(rows):
        raise RuntimeError(f"{label}: stored {stored} of {len(rows)} clicks")
    return {
        "median_ms": statistics.median(times) * 1000,
        "busy_loops_per_s": spins[0] / elapsed if busy else 0.0,
    }


def _plot(results: dict[str, dict[str, dict[str, float]]], batch_size: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    for offset, mode, color in ((-0.2, "idle", "#888"), (0.2, "busy", "#c54")):
        values = [results[name][mode]["median_ms"] for name in names]
        ax.barh([n + offset for n in range(len(names))], values, height=0.4, color=color, label=mode)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel(f"ms per {batch_size:,}-click batch (median)")
    ax.set_title("One click batch's DuckDB write")
    ax.legend(["alone", "beside a busy Python thread"], loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=15)
    parser.add_argument(
        "--batch-size", type=int, default=2000, help="clicks per batch (the worker's were ~2,000)"
    )
    parser.add_argument("--movielens", type=Path, default=DEFAULT_MOVIELENS)
    parser.add_argument("--out", type=Path, default=Path("reports/bench"))
    args = parser.parse_args(argv)

    clicks = load_movielens(args.movielens).clicks[: args.batches * args.batch_size]
    rows = [
        ClickRow(c.event_id or f"c{n}", c.user_id, c.item_id, c.event_type, c.rating, c.ts or 0, 0, n)
        for n, c in enumerate(clicks)
    ]
    variants: dict[str, Write] = {
        "one call per statement": _one_call_per_statement,
        "one script": _one_script,
    }
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name, write in variants.items():
        results[name] = {
            mode: _measure(rows, args.batch_size, write, mode == "busy", f"{name}, {mode}")
            for mode in ("idle", "busy")
        }
    calls = len(statements(store_clicks_sql(0, "clicks", {0: 1}))) + 3  # + BEGIN, COMMIT, answer
    lines = [
        f"# A click batch's DuckDB write beside a busy Python thread ({time.strftime('%Y-%m-%d')})",
        "",
        f"{args.batches} MovieLens batches of {args.batch_size:,} clicks into a fresh DuckDB file; "
        f"the same SQL as {calls} calls or as one script (plus the batch load in both). "
        "Median per batch.",
        "",
        "| write | idle ms | beside a busy thread ms | busy / idle |",
        "|---|---|---|---|",
    ]
    for name, by_mode in results.items():
        idle, busy = by_mode["idle"]["median_ms"], by_mode["busy"]["median_ms"]
        lines.append(f"| {name} | {idle:.1f} | {busy:.1f} | {busy / idle:.1f}x |")
    per_statement = results["one call per statement"]["busy"]["median_ms"]
    script = results["one script"]["busy"]["median_ms"]
    lines += [
        "",
        f"Beside a busy thread, one script takes **{script / per_statement:.2f}x** the time of "
        "one call per statement.",
    ]
    markdown = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "batches": args.batches,
        "batch_size": args.batch_size,
        "calls_per_statement_variant": calls,
        "results": results,
        "script_over_per_statement_busy": round(script / per_statement, 3),
    }
    (args.out / "gil_contention.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "gil_contention.md").write_text(markdown)
    _plot(results, args.batch_size, args.out / "gil_contention.png")
    print(markdown)


if __name__ == "__main__":
    main()
