"""Benchmark: click ingestion rate with live summarization running, against without it.

``python -m streams.bench.ingest [--clicks 20000] [--model-path DIR] [--out reports/ingest-bench]``

One run, one broker, one Triton: the same N clicks (MovieLens ratings in time order, or
synthetic ones if the dataset is absent) are published once; then two workers, each with its own
consumer group and DuckDB, catch up on them one after the other:

* baseline: ``STREAMREC_SUMMARY_BLOCK=0`` (no summaries),
* summaries: ``STREAMREC_SUMMARY_BLOCK=5`` (live recurrent updates competing for the CPU).

Both also run the recommend task, as in production. The figure is clicks stored per second
from worker start until all N are in DuckDB. Writes ``ingest.json`` and ``ingest.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from streams.contracts import CLICKS, ITEMS, SCHEMA_VERSION, Click
from streams.kafka import ContractProducer, ensure_topics
from streams.local import TansuBroker, worker_ready
from streams.replay import DEFAULT_MOVIELENS, load_movielens


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _clicks(path: Path, n: int) -> tuple[list[Any], list[Click]]:
    if (path / "ratings.csv").is_file():
        data = load_movielens(path)
        return data.items, data.clicks[:n]
    clicks = [
        Click(
            schema_version=SCHEMA_VERSION,
            event_id=f"syn-{k}",
            user_id=f"u{k % 300}",
            item_id=f"i{(k * 7) % 2000}",
            event_type="click",
            ts=1_600_000_000_000 + k,
        )
        for k in range(n)
    ]
    return [], clicks


def _stored(url: str) -> int:
    with urllib.request.urlopen(f"{url}/status/", timeout=10) as response:
        return int(json.loads(response.read())["tables"]["interactions"])


def _run_worker(name: str, env: dict[str, str], data_dir: Path, total: int) -> dict[str, Any]:
    port = _free_port()
    env = {
        **env,
        "STREAMREC_DATA_DIR": str(data_dir),
        "STREAMREC_WEB_PORT": str(port),
        "STREAMREC_APP_ID": name,
    }
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    with open(data_dir.parent / f"{name}.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streams.worker"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        while not worker_ready(url):
            if proc.poll() is not None:
                raise RuntimeError(f"worker {name} exited; see {data_dir.parent / f'{name}.log'}")
            time.sleep(0.2)
        ready = time.monotonic()
        stored = 0
        while stored < total:
            time.sleep(0.5)
            stored = _stored(url)
            print(f"  {name}: {stored}/{total} stored", end="\r", flush=True)
        done = time.monotonic()
        with urllib.request.urlopen(f"{url}/status/", timeout=10) as response:
            status = json.loads(response.read())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    print()
    seconds = done - ready
    return {
        "name": name,
        "clicks": total,
        "seconds": round(seconds, 2),
        "clicks_per_s": round(total / seconds, 1),
        "startup_s": round(ready - started, 2),
        "summaries_at_end": status["tables"].get("summaries", 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clicks", type=int, default=20_000)
    parser.add_argument("--movielens", type=Path, default=DEFAULT_MOVIELENS)
    parser.add_argument("--model-path", type=Path, default=None, help="HF causal-LM dir (default: SmolLM2)")
    parser.add_argument("--data-dir", type=Path, default=Path(".streamrec"), help="model cache")
    parser.add_argument("--out", type=Path, default=Path("reports/ingest-bench"))
    args = parser.parse_args()

    from serving.launcher import DEFAULT_MODEL_REPOSITORY, TritonConfig, TritonServer

    items, clicks = _clicks(args.movielens, args.clicks)
    work = Path(tempfile.mkdtemp(prefix="streamrec-bench-"))
    broker = TansuBroker(port=_free_port(), log_path=work / "tansu.log")
    broker.start()
    ports = [_free_port() for _ in range(3)]
    triton = TritonServer(
        TritonConfig(
            model_repository=DEFAULT_MODEL_REPOSITORY,
            data_dir=args.data_dir.resolve(),
            http_port=ports[0],
            grpc_port=ports[1],
            metrics_port=ports[2],
            model_path=args.model_path,
            log_path=work / "triton.log",
        )
    )
    try:
        ensure_topics(broker.bootstrap, 4)
        print(f"publishing {len(items)} items and {len(clicks)} clicks ...")
        with ContractProducer(broker.bootstrap) as producer:
            producer.send_all(
                ITEMS, ((i.item_id, i) for i in items), total=len(items), progress=True, description="items"
            )
            producer.send_all(
                CLICKS,
                ((c.user_id, c) for c in clicks),
                total=len(clicks),
                progress=True,
                description="clicks",
            )
        print("starting Triton (recommender + summarizer) ...")
        triton.start()
        triton.wait_ready(timeout_s=600, models=("recommender", "summarizer"))
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "TRITON_URL": triton.grpc_url}
        results = []
        for name, block in (("baseline-no-summaries", "0"), ("with-summaries", "5")):
            data_dir = work / name
            data_dir.mkdir()
            print(f"{name}: catching up on {len(clicks)} clicks ...")
            results.append(
                _run_worker(name, {**env, "STREAMREC_SUMMARY_BLOCK": block}, data_dir, len(clicks))
            )
    finally:
        triton.stop()
        broker.stop()

    baseline, summaries = results
    ratio = summaries["clicks_per_s"] / baseline["clicks_per_s"]
    report = {"clicks": len(clicks), "runs": results, "with_over_without": round(ratio, 3)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ingest.json").write_text(json.dumps(report, indent=2))
    print(f"{'run':<24}{'clicks/s':>12}{'seconds':>10}{'summaries':>11}")
    for r in results:
        print(f"{r['name']:<24}{r['clicks_per_s']:>12}{r['seconds']:>10}{r['summaries_at_end']:>11}")
    print(f"ingest with summaries / without: {ratio:.2f}x")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3))
    ax.bar([r["name"] for r in results], [r["clicks_per_s"] for r in results], color=["#888", "#3a7"])
    ax.set_ylabel("clicks stored per second")
    ax.set_title(f"Ingest catch-up, {len(clicks)} clicks")
    fig.tight_layout()
    fig.savefig(args.out / "ingest.png", dpi=120)
    print(f"wrote {args.out / 'ingest.json'} and {args.out / 'ingest.png'}")


if __name__ == "__main__":
    main()
