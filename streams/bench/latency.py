"""Benchmark: click -> recommendation latency, measured from outside the system.

    python -m streams.bench.latency [--quick] [--precision mixed] [--out reports/bench]

One run, one Triton. A user "arrives" by sending 5 clicks at once (real MovieLens histories
under new user ids, timestamped now, so they are live traffic); the latency is from the
producer's send of those clicks to the arrival of that user's first recommendation at an
outside confluent-kafka consumer. Scenarios, in order:

- sustained loads of 0.5, 1 and 2 arriving users per second for ``--seconds`` each;
- a burst of 40 users sent at once.

Each scenario waits until every user is answered (or ``--drain-s`` passes; unanswered users
are counted, not dropped) before the next starts. The whole sequence runs twice, each time
with a fresh broker, worker and store (a worker reads ``clicks`` from the earliest offset, so
a shared broker would make the second pass replay the first pass's users): without live
summaries (``STREAMREC_SUMMARY_BLOCK=0``) and with them (block 5, so every arriving user's
5 clicks make one summary that competes with ranking for the CPU). The peak RSS (VmHWM) of
the worker and of tritonserver is read at the end of each pass. Writes ``latency.json``,
``latency.md`` and ``latency.png`` (histograms).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer

from streams.bench.probes import STAGES, peak_rss_mb, stage_means, tree_peak_rss_mb
from streams.contracts import CLICKS, ITEMS, RECOMMENDATIONS, SCHEMA_VERSION, Click
from streams.kafka import ContractProducer, ensure_topics
from streams.kafka_security import PLAINTEXT, KafkaSecurity, librdkafka_config
from streams.local import TansuBroker, worker_ready
from streams.replay import DEFAULT_MOVIELENS, load_movielens

__all__ = ["main", "percentile"]

CLICKS_PER_USER = 5
BURST_USERS = 40
LOADS = (0.5, 1.0, 2.0)  # sustained arriving users per second


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class Arrivals:
    """First recommendation per user, as seen by the outside consumer (wall-clock seconds)."""

    first: dict[str, float] = field(default_factory=dict)
    fallback: dict[str, bool] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _consume(
    bootstrap: str,
    arrivals: Arrivals,
    ready: threading.Event,
    stop: threading.Event,
    security: KafkaSecurity = PLAINTEXT,  # each pass runs its own embedded (PLAINTEXT) broker
) -> None:
    consumer = Consumer(
        {
            **librdkafka_config(security),
            "bootstrap.servers": bootstrap,
            "group.id": f"latency-bench-{os.getpid()}-{time.time_ns()}",
            "auto.offset.reset": "latest",
            "enable.auto.commit": False,
            # A latency-sensitive client asks the broker not to hold a fetch open waiting for
            # more data (librdkafka's default 500 ms adds up to ~250 ms per message on Tansu).
            "fetch.wait.max.ms": 10,
        }
    )
    consumer.subscribe([RECOMMENDATIONS], on_assign=lambda c, partitions: ready.set())
    try:
        while not stop.is_set():
            message = consumer.poll(0.2)
            if message is None or message.error() is not None:
                continue
            seen = time.time()
            value = json.loads(message.value() or b"{}")
            user = str(value.get("user_id", ""))
            with arrivals.lock:
                if user not in arrivals.first:
                    arrivals.first[user] = seen
                    arrivals.fallback[user] = bool(value.get("fallback", False))
    finally:
        consumer.close()


def _user_clicks(histories: Sequence[Sequence[str]], user: str, index: int) -> list[Click]:
    items = histories[index % len(histories)]
    now = int(time.time() * 1000)
    return [
        Click(
            schema_version=SCHEMA_VERSION,
            event_id=f"{user}-{k}",
            user_id=user,
            item_id=item,
            event_type="click",
            ts=now,
        )
        for k, item in enumerate(items)
    ]


def _run_scenario(
    name: str,
    producer: ContractProducer,
    arrivals: Arrivals,
    histories: Sequence[Sequence[str]],
    schedule: Sequence[float],
    drain_s: float,
) -> dict[str, Any]:
    """Send one user at each offset of ``schedule`` (seconds from now); wait for the answers."""
    sent: dict[str, float] = {}
    started = time.monotonic()
    for index, offset in enumerate(schedule):
        delay = started + offset - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        user = f"lat-{name}-{index}"
        for click in _user_clicks(histories, user, index):
            producer.send(CLICKS, user, click)
        producer.flush()
        sent[user] = time.time()
    deadline = time.monotonic() + drain_s
    while time.monotonic() < deadline:
        with arrivals.lock:
            if all(user in arrivals.first for user in sent):
                break
        time.sleep(0.2)
    with arrivals.lock:
        latencies = [arrivals.first[u] - t for u, t in sent.items() if u in arrivals.first]
        fallbacks = sum(arrivals.fallback.get(u, False) for u in sent)
    return {
        "scenario": name,
        "users": len(sent),
        "answered": len(latencies),
        "fallbacks": fallbacks,
        "p50_s": percentile(latencies, 50),
        "p95_s": percentile(latencies, 95),
        "p99_s": percentile(latencies, 99),
        "mean_s": statistics.fmean(latencies) if latencies else float("nan"),
        "latencies_s": [round(x, 4) for x in latencies],
    }


def _start_worker(env: dict[str, str], data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    url = f"http://127.0.0.1:{port}"
    log = open(data_dir.parent / f"{data_dir.name}.log", "wb")  # noqa: SIM115 - lives with the worker
    proc = subprocess.Popen(
        [sys.executable, "-m", "streams.worker"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    while not worker_ready(url):
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited; see {data_dir.parent / f'{data_dir.name}.log'}")
        time.sleep(0.2)
    return proc


@dataclass(frozen=True)
class Pass:
    """One measured pass: summaries off or on, with its own broker, consumer and worker.

    Each pass gets a fresh broker so that its worker, which reads ``clicks`` from the earliest
    offset, never replays the other pass's users (their summaries would swamp the run).
    """

    label: str
    summary_block: int
    seconds: float
    drain_s: float


def _measure_pass(
    spec: Pass, triton_url: str, items: Sequence[Any], histories: Sequence[Sequence[str]], work: Path
) -> dict[str, Any]:
    """Broker, outside consumer and worker for one pass: warm-up, the loads, the burst."""
    from serving.launcher import free_ports

    broker_port, web_port = free_ports(2)
    data_dir = work / f"worker-summaries-{spec.label}"
    data_dir.mkdir()
    broker = TansuBroker(port=broker_port, log_path=work / f"tansu-{spec.label}.log")
    broker.start()
    stop = threading.Event()
    try:
        ensure_topics(broker.bootstrap, 4)
        with ContractProducer(broker.bootstrap) as producer:
            producer.send_all(ITEMS, ((i.item_id, i) for i in items), total=len(items))
            producer.flush()
            arrivals, ready = Arrivals(), threading.Event()
            consumer = threading.Thread(
                target=_consume, args=(broker.bootstrap, arrivals, ready, stop), daemon=True
            )
            consumer.start()
            if not ready.wait(60):
                raise RuntimeError("the outside consumer got no partitions within 60 s")
            env = {
                **os.environ,
                "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
                "TRITON_URL": triton_url,
                "STREAMREC_SUMMARY_BLOCK": str(spec.summary_block),
                "STREAMREC_DATA_DIR": str(data_dir),
                "STREAMREC_WEB_PORT": str(web_port),
                "STREAMREC_APP_ID": f"latency-{spec.label}",
            }
            schedules = [("warmup", [0.0])]
            schedules += [(f"{r:g}-per-s", [k / r for k in range(int(spec.seconds * r))]) for r in LOADS]
            schedules.append(("burst", [0.0] * BURST_USERS))
            print(f"summaries {spec.label}: starting the worker ...", flush=True)
            worker = _start_worker(env, data_dir, web_port)
            try:
                scenarios = []
                for name, schedule in schedules:
                    print(f"summaries {spec.label}, {name}: {len(schedule)} users ...", flush=True)
                    scenarios.append(
                        _run_scenario(name, producer, arrivals, histories, schedule, spec.drain_s)
                    )
                worker_rss = peak_rss_mb(worker.pid)
                with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/metrics/", timeout=10) as response:
                    stages = stage_means(response.read().decode())
            finally:
                worker.send_signal(signal.SIGTERM)
                worker.wait(60)
    finally:
        stop.set()
        broker.stop()
    return {
        "summaries": spec.label,
        "scenarios": scenarios[1:],  # the warm-up pays model and cache start-up
        "worker_peak_rss_mb": None if worker_rss is None else round(worker_rss),
        "stage_mean_s": {name: round(value, 4) for name, value in stages.items()},
    }


def _markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Click -> recommendation latency ({report['date']}, precision {report['precision']})",
        "",
        f"From the producer's send of a new user's {CLICKS_PER_USER} clicks to that user's first "
        "recommendation at an outside consumer. Sustained loads ran "
        f"{report['seconds_per_load']:.0f} s each; the burst is {BURST_USERS} users at once.",
        "",
        "| summaries | scenario | users | answered | fallback | p50 s | p95 s | p99 s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in report["runs"]:
        for s in run["scenarios"]:
            lines.append(
                f"| {run['summaries']} | {s['scenario']} | {s['users']} | {s['answered']} | "
                f"{s['fallbacks']} | {s['p50_s']:.2f} | {s['p95_s']:.2f} | {s['p99_s']:.2f} |"
            )
    lines += [
        "",
        "| summaries | worker peak RSS MiB | tritonserver + backends peak RSS MiB |",
        "|---|---|---|",
    ]
    for run in report["runs"]:
        lines.append(f"| {run['summaries']} | {run['worker_peak_rss_mb']} | {run['triton_peak_rss_mb']} |")
    lines += ["", "Where the time goes (worker histograms, mean over the pass):", ""]
    lines += ["| summaries | stage | mean s |", "|---|---|---|"]
    for run in report["runs"]:
        for name, value in run["stage_mean_s"].items():
            lines.append(f"| {run['summaries']} | {STAGES[name]} | {value:.3f} |")
    return "\n".join(lines) + "\n"


def _plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = report["runs"]
    names = [s["scenario"] for s in runs[0]["scenarios"]]
    fig, axes = plt.subplots(
        len(runs), len(names), figsize=(3.2 * len(names), 2.6 * len(runs)), squeeze=False
    )
    for r, run in enumerate(runs):
        for c, scenario in enumerate(run["scenarios"]):
            ax = axes[r][c]
            if scenario["latencies_s"]:
                ax.hist(scenario["latencies_s"], bins=20, color="tab:blue" if r == 0 else "tab:orange")
                ax.axvline(scenario["p50_s"], color="black", linestyle="--", linewidth=1)
            else:
                ax.text(0.5, 0.5, "nobody answered\nwithin the drain", ha="center", va="center")
                ax.set_xticks([])
                ax.set_yticks([])
            ax.set_title(f"{scenario['scenario']}, summaries {run['summaries']}", fontsize=9)
            ax.set_xlabel("seconds")
    fig.suptitle(f"click -> recommendation latency, {report['date']} (dashed: p50)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m streams.bench.latency", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20 s per load, summaries off only")
    parser.add_argument("--seconds", type=float, default=60.0, help="duration of each sustained load")
    parser.add_argument("--drain-s", type=float, default=180.0, help="wait for answers after a scenario")
    parser.add_argument("--precision", default="mixed", help="STREAMREC_PRECISION for Triton")
    parser.add_argument("--movielens", type=Path, default=DEFAULT_MOVIELENS)
    parser.add_argument("--model-path", type=Path, default=None, help="HF causal-LM dir (default: SmolLM2)")
    parser.add_argument("--data-dir", type=Path, default=Path(".streamrec"), help="model cache")
    parser.add_argument("--out", type=Path, default=Path("reports/bench"))
    args = parser.parse_args(argv)
    seconds = 20.0 if args.quick else args.seconds

    from serving.launcher import DEFAULT_MODEL_REPOSITORY, TritonConfig, TritonServer, free_ports

    data = load_movielens(args.movielens)
    per_user: dict[str, list[str]] = {}
    for click in data.clicks:
        per_user.setdefault(click.user_id, []).append(click.item_id)
    histories = [items[:CLICKS_PER_USER] for items in per_user.values() if len(items) >= CLICKS_PER_USER]

    work = Path(tempfile.mkdtemp(prefix="streamrec-latency-"))
    http, grpc, metrics = free_ports(3)
    triton = TritonServer(
        TritonConfig(
            model_repository=DEFAULT_MODEL_REPOSITORY,
            data_dir=args.data_dir.resolve(),
            http_port=http,
            grpc_port=grpc,
            metrics_port=metrics,
            model_path=args.model_path,
            log_path=work / "triton.log",
            extra_env={"STREAMREC_PRECISION": args.precision},
        )
    )
    passes = [Pass("off", 0, seconds, args.drain_s)]
    if not args.quick:
        passes.append(Pass("on", CLICKS_PER_USER, seconds, args.drain_s))
    runs: list[dict[str, Any]] = []
    print("starting Triton ...", flush=True)
    triton.start()
    try:
        triton.wait_ready(timeout_s=600, models=("recommender", "summarizer"))
        for spec in passes:
            run = _measure_pass(spec, triton.grpc_url, data.items, histories, work)
            rss = tree_peak_rss_mb(triton.pid)
            runs.append({**run, "triton_peak_rss_mb": None if rss is None else round(rss)})
    finally:
        triton.stop()

    report = {
        "date": time.strftime("%Y-%m-%d"),
        "precision": args.precision,
        "seconds_per_load": seconds,
        "clicks_per_user": CLICKS_PER_USER,
        "loads_users_per_s": list(LOADS),
        "burst_users": BURST_USERS,
        "runs": runs,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latency.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "latency.md").write_text(_markdown(report))
    _plot(report, args.out / "latency.png")
    print(_markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
