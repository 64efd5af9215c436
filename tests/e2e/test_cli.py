"""The ``streamrec`` command line against the session's real broker, Triton and worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from streams.contracts import RECOMMENDATIONS
from streams.kafka import TopicReader
from streams.local import port_is_free
from tests.e2e.helpers import catalog, clicks, publish
from tests.fixtures.kafka import WorkerProcess, free_port, wait_until

STREAMREC = [sys.executable, "-m", "streams.cli"]


def _env(worker: WorkerProcess, **extra: str) -> dict[str, str]:
    return {**worker.env, **extra}


def _run(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(STREAMREC + args, env=env, capture_output=True, text=True, timeout=timeout)


def test_every_command_has_help() -> None:
    for command in ["up", "worker", "demo", "replay", "tail", "forget", "status", "summarize"]:
        result = subprocess.run(STREAMREC + [command, "--help"], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert "Usage" in result.stdout


def test_forget_waits_for_purged_and_status_reports_tables(
    worker: WorkerProcess, kafka_broker: Any, uid: str
) -> None:
    items = catalog(uid, 25)
    user = f"{uid}-cli"
    events = clicks(user, [items[0].item_id, items[1].item_id, items[2].item_id])
    with TopicReader(kafka_broker.bootstrap, RECOMMENDATIONS) as recs:
        publish(kafka_broker.bootstrap, items, events)
        assert recs.wait_for(lambda r: r.get("trigger_event_id") == events[-1].event_id, 90)

    forget = _run(["forget", user, "--timeout", "60"], _env(worker))
    assert forget.returncode == 0, forget.stdout + forget.stderr
    assert "purged" in forget.stdout and "deleted 3 interaction" in forget.stdout

    status = _run(["status"], _env(worker))
    assert status.returncode == 0, status.stdout + status.stderr
    for table in ("interactions", "items", "deletion_requests", "tombstones"):
        assert table in status.stdout
    assert "clicks[0]" in status.stdout and "ready" in status.stdout


def test_replay_publishes_the_catalog_and_ratings_in_time_order(
    worker: WorkerProcess, kafka_broker: Any, tmp_path: Path, uid: str
) -> None:
    data = tmp_path / "ml"
    data.mkdir()
    (data / "movies.csv").write_text(
        "movieId,title,genres\n"
        f"{uid}1,Alpha (1999),Drama|Comedy\n"
        f"{uid}2,Beta (2001),(no genres listed)\n"
        f'{uid}3,"Gamma, The (2010)",Action\n'
    )
    (data / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n"
        f"{uid}u,{uid}3,4.0,300\n{uid}u,{uid}1,5.0,100\n{uid}u,{uid}2,2.5,200\n{uid}v,{uid}1,3.0,150\n"
    )
    with (
        TopicReader(kafka_broker.bootstrap, "items") as items,
        TopicReader(kafka_broker.bootstrap, "clicks") as cl,
    ):
        result = _run(["replay", "--path", str(data)], _env(worker))
        assert result.returncode == 0, result.stdout + result.stderr
        assert "published 3 items and 4 clicks for 2 users" in result.stdout
        got_items = [v for _k, v, _r in items.records(5) if v and str(v["item_id"]).startswith(uid)]
        got_clicks = [v for _k, v, _r in cl.records(5) if v and str(v["user_id"]).startswith(uid)]
    by_id = {i["item_id"]: i for i in got_items}  # items are spread over partitions
    assert sorted(by_id) == [f"{uid}1", f"{uid}2", f"{uid}3"]
    assert by_id[f"{uid}2"]["categories"] == [] and by_id[f"{uid}3"]["title"] == "Gamma, The (2010)"
    # One partition per user keeps each user's order; across users, order is by time.
    user_u = [c for c in got_clicks if c["user_id"] == f"{uid}u"]
    assert [c["ts"] for c in user_u] == [100_000, 200_000, 300_000]
    assert {c["event_id"] for c in got_clicks} >= {f"ml-{uid}u-{uid}1-100", f"ml-{uid}v-{uid}1-150"}


def test_up_starts_everything_and_sigterm_stops_everything(tiny_model_dir: Path, tmp_path: Path) -> None:
    """`streamrec up` with the embedded broker and Triton on free ports; SIGTERM leaves nothing."""
    ports = {name: free_port() for name in ("broker", "http", "grpc", "metrics", "web")}
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "TRITON_URL")} | {
        "STREAMREC_DATA_DIR": str(tmp_path / "state"),
        "STREAMREC_MODEL_PATH": str(tiny_model_dir),
        "STREAMREC_BROKER_PORT": str(ports["broker"]),
        "STREAMREC_TRITON_HTTP_PORT": str(ports["http"]),
        "STREAMREC_TRITON_GRPC_PORT": str(ports["grpc"]),
        "STREAMREC_TRITON_METRICS_PORT": str(ports["metrics"]),
        "STREAMREC_WEB_PORT": str(ports["web"]),
        "COLUMNS": "200",
    }
    log = tmp_path / "up.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(STREAMREC + ["up"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(
            lambda: "Press Ctrl-C to stop" in log.read_text() or proc.poll() is not None, 240, what="up"
        )
        text = log.read_text()
        assert proc.poll() is None, text
        assert f"127.0.0.1:{ports['broker']} (embedded Tansu)" in text
        assert f"127.0.0.1:{ports['grpc']} (embedded)" in text
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['web']}/status/", timeout=10) as response:
            assert "interactions" in json.loads(response.read())["tables"]

        # A second `up` on the same ports fails fast with a clear message.
        second = subprocess.run(STREAMREC + ["up"], env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 1
        assert "already in use" in second.stderr and str(ports["broker"]) in second.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(90)
    assert code == 0, log.read_text()[-3000:]
    time.sleep(0.5)
    busy = [name for name, port in ports.items() if not port_is_free("127.0.0.1", port)]
    assert not busy, f"ports still bound after SIGTERM: {busy}"
