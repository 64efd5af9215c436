"""Forgetting reaches the adapters, live: purged -> shard excluded -> retrained -> verified -> audited.

A stack of its own (real Tansu broker, real tritonserver, worker and trainer processes sharing
one data directory, so Triton serves the sets they publish), with the tiny random Llama: an
adapter set is trained from the worker's snapshot and served; the user is forgotten;
``purged`` names the dirty shard; every recommendation after that is scored by the set with
that shard at weight 0, as the worker's per-shard counters show. Then the trainer retrains that
shard alone (the trainer is killed mid-retrain once and resumes), ``retrained`` reports the
old and new hashes, the new set serves, ``streamrec adapters verify`` rebuilds it from scratch
byte for byte, ``streamrec audit`` shows every step, and no log holds the raw user id.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from models.training.lora import LoraSettings
from models.training.shards import ShardingConfig
from serving.adapters import read_current, read_manifest, read_members
from streams.contracts import DELETION_STATUS, RECOMMENDATIONS
from streams.kafka import TopicReader
from streams.training import train_from_snapshot
from tests.e2e.helpers import catalog, clicks, deletion, publish, request_deletion
from tests.fixtures.kafka import WorkerProcess
from tests.fixtures.trainer import TrainerProcess
from tests.fixtures.triton import start_triton

pytestmark = pytest.mark.e2e

# The random (salted-hash) partition spreads 12 users over 3 shards for any catalog; the semantic
# one follows the tiny random model's item vectors and may put everyone in one shard.
CONFIG = ShardingConfig(
    shards=3, partition="random", max_samples=None, lora=replace(LoraSettings(), max_epochs=1)
)


@pytest.fixture(scope="module")
def stack(
    kafka_broker: Any, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    data_dir = tmp_path_factory.mktemp("unlearning")
    triton = start_triton(data_dir, model_path=tiny_model_dir)
    # Its own consumer group: the session's worker may read the same topics beside it.
    worker = WorkerProcess(
        data_dir,
        kafka_broker.bootstrap,
        triton.grpc_url,
        STREAMREC_APP_ID=f"unlearning-{uuid.uuid4().hex[:6]}",
    )
    try:
        worker.start()
        yield worker
    finally:
        if worker.proc is not None:
            worker.stop()
        triton.stop()


def post_json(url: str, payload: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def shard_uses(worker: WorkerProcess, adapter_set: str) -> dict[int, float]:
    with urllib.request.urlopen(f"{worker.url}/metrics/", timeout=10) as response:
        text = response.read().decode()
    pattern = re.compile(
        r'^streamrec_adapter_shard_uses_total\{adapter_set="'
        + adapter_set
        + r'",shard="(\d+)"\} ([0-9.e+]+)$',
        re.M,
    )
    return {int(shard): float(count) for shard, count in pattern.findall(text)}


def serve_a_set(
    stack: WorkerProcess, bootstrap: str, model_dir: Path, uid: str, tag: str, step: int
) -> tuple[list[Any], list[str], dict[str, list[Any]], dict[str, str], Path, str]:
    """12 users click, all get a recommendation, and a set trained from the worker's snapshot is
    published: (items, users, events per user, salted key per user, adapters root, version)."""
    items = catalog(uid, 40)
    users = [f"{uid}-{tag}{n}" for n in range(12)]
    events = {
        u: clicks(u, [items[(n * step + k) % 40].item_id for k in range(10)]) for n, u in enumerate(users)
    }
    with TopicReader(bootstrap, RECOMMENDATIONS) as recs:
        publish(bootstrap, items, [e for u in users for e in events[u]])
        last = {events[u][-1].event_id for u in users}
        recs.wait_for(lambda r: r.get("trigger_event_id") in last, 120, count=len(last))
    snapshot = post_json(f"{stack.url}/adapters/snapshot/", {})
    keys = {
        row["event_id"].rsplit("-e", 1)[0]: row["user_key"]
        for row in pq.read_table(Path(snapshot["path"]) / "interactions.parquet").to_pylist()
    }
    root = stack.data_dir / "adapters"
    version = train_from_snapshot(Path(snapshot["path"]), root, model_dir, CONFIG)
    return items, users, events, keys, root, version


def test_a_forgotten_users_shard_is_never_used_after_purged(
    stack: WorkerProcess, kafka_broker: Any, tiny_model_dir: Path, uid: str
) -> None:
    bootstrap = kafka_broker.bootstrap
    # Train a set from the worker's snapshot and serve it.
    items, users, events, keys, root, version = serve_a_set(stack, bootstrap, tiny_model_dir, uid, "u", 5)
    members = read_members(root, version)
    assert members is not None
    by_shard: dict[int, list[str]] = {}
    for user in users:
        for shard in members.get(keys[user], ()):
            by_shard.setdefault(shard, []).append(user)
    assert len(by_shard) >= 2, f"the test needs users in two shards at least: {by_shard}"
    victim_shard, victims = min(by_shard.items(), key=lambda kv: len(kv[1]))
    victim = victims[0]
    others = [u for s, us in by_shard.items() if s != victim_shard for u in us]

    def click_and_wait(user: str, n: int, version: str = version) -> dict[str, Any]:
        event = clicks(user, [items[(n * 7) % 40].item_id], start_ts=1_700_000_000_000 + n)[0]
        event = event.model_copy(update={"event_id": f"{user}-late{n}"})
        with TopicReader(bootstrap, RECOMMENDATIONS) as reader:
            publish(bootstrap, events=[event])
            got = reader.wait_for(
                lambda r: r.get("trigger_event_id") == event.event_id and r["model"]["version"] == version,
                120,
            )
        assert got, f"no recommendation from {version} for {event.event_id}:\n{stack.log_tail()}"
        return got[0]

    click_and_wait(others[0], 1)  # the set is served

    request = deletion(f"{uid}-forget", victim)
    with TopicReader(bootstrap, DELETION_STATUS) as statuses:
        request_deletion(bootstrap, request)
        purged = statuses.wait_for(
            lambda r: r.get("request_id") == request.request_id and "marked dirty" in r.get("detail", ""), 90
        )
    assert purged and purged[0]["stage"] == "purged", statuses
    assert f"adapter shard(s) {victim_shard} of set {version} marked dirty" in purged[0]["detail"]
    assert victim not in purged[0]["detail"], "the detail names shards and sets, never the user"

    before = shard_uses(stack, version)
    for n, user in enumerate(others[:3], start=2):
        rec = click_and_wait(user, n)
        assert not rec["fallback"]
    after = shard_uses(stack, version)
    assert after.get(victim_shard, 0.0) == before.get(victim_shard, 0.0), (before, after)
    used = sum(after.values()) - sum(before.values())
    assert used >= len(others[:3]), f"the other shards kept scoring: {before} -> {after}"

    # -- the trainer retrains the dirty shard alone (killed once mid-retrain, then resumed) ------
    trainer = TrainerProcess(stack, tiny_model_dir)
    with TopicReader(bootstrap, DELETION_STATUS) as statuses:
        trainer.start()
        started = wait_until(lambda: "retraining v" in trainer.log_tail(), 120)
        assert started, trainer.log_tail()
        trainer.kill()  # kill -9 during the retrain (or, if it was quick, just after publishing)
        served = read_current(root)
        assert served is not None
        manifest = read_manifest(root, served)  # whatever is current is a complete set
        assert all((root / served / s["file"]).exists() for s in manifest["shards"])
        trainer.start()
        try:
            retrained = statuses.wait_for(
                lambda r: r.get("request_id") == request.request_id and r.get("stage") == "retrained", 300
            )
        finally:
            trainer.stop()
    assert retrained, f"no retrained status:\n{trainer.log_tail()}"
    new_version = read_current(root)
    assert new_version is not None and new_version != version
    old_shards = read_manifest(root, version)["shards"]
    new_shards = read_manifest(root, new_version)["shards"]
    for k in range(CONFIG.shards):
        assert (old_shards[k]["sha256"] == new_shards[k]["sha256"]) == (k != victim_shard), k
    detail = retrained[0]["detail"]
    assert f"shard {victim_shard} {old_shards[victim_shard]['sha256'][:12]} -> " in detail, detail
    assert new_shards[victim_shard]["sha256"][:12] in detail
    assert retrained[0]["user_id"] == keys[victim], "retrained names the salted key, never the raw id"
    assert keys[victim] not in (read_members(root, new_version) or {})
    dirty = json.loads(urllib.request.urlopen(f"{stack.url}/adapters/dirty/", timeout=10).read())
    assert dirty["active"] == [], dirty

    # The new set serves (the victim's shard is clean again, so it may carry weight).
    rec = click_and_wait(others[0], 20, new_version)
    assert not rec["fallback"]

    # Anyone can rerun the proof: the new set rebuilt from scratch is byte-identical.
    env = {**trainer.env, "COLUMNS": "200"}
    verify = cli(["adapters", "verify", new_version], env)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "byte-identical" in verify.stdout

    audit = cli(["audit", request.request_id], env)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    for step in ("received", "purged", "dirtied", "retrained", "served"):
        assert re.search(rf"^.*\b{step}\b", audit.stdout, re.M), f"{step} missing:\n{audit.stdout}"
    assert new_version in audit.stdout and victim not in audit.stdout

    # No log of the run prints the forgotten user's raw id.
    for log in (stack.log_path, trainer.log_path, *stack.data_dir.glob("**/*.log")):
        assert victim not in log.read_text(errors="replace"), f"{log} names the user"

    # Leave the stack serving no set (other tests in the session expect the zero-shot model).
    (root / "CURRENT").unlink()
    for published in (version, new_version):
        shutil.rmtree(root / published, ignore_errors=True)  # the trainer may have pruned it


def wait_until(check: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def first_status_each(
    statuses: TopicReader, ids: set[str], stage: str, timeout_s: float, detail_has: str = ""
) -> dict[str, Any]:
    """The first ``stage`` status of each request id whose detail contains ``detail_has``,
    until all arrived or time ran out.

    Statuses are at least once (a redelivered request is answered "already purged" again), so
    counting records would let a repeat stand in for a request that was never answered. And
    this module's worker is not the only one answering: the session's worker reads the same
    topics in its own consumer group, with its own store and no adapter set, so it purges the
    same requests (often sooner) and its ``purged`` never says "marked dirty".
    """
    found: dict[str, Any] = {}

    def new(record: dict[str, Any]) -> bool:
        request_id = record.get("request_id")
        if (
            request_id in ids
            and request_id not in found
            and record.get("stage") == stage
            and detail_has in str(record.get("detail", ""))
        ):
            found[str(request_id)] = record
            return True
        return False

    statuses.wait_for(new, timeout_s, count=len(ids))
    return found


def test_a_burst_of_deletions_with_an_item_level_one_costs_one_retrain(
    stack: WorkerProcess, kafka_broker: Any, tiny_model_dir: Path, uid: str
) -> None:
    """Five requests (four users, one of them item-level only) waiting together: the trainer
    publishes one new set, every request with a dirty shard gets `retrained`, and the new set
    verifies.

    The whole burst is purged by this module's worker, so every dirty mark is written, before
    the trainer starts. With the trainer already running, a loaded CI machine once spread the
    five purges over more than the 4 s debounce and the trainer (rightly) retrained twice; the
    debounce window itself is unit-tested in `tests/streams/training/test_scheduler.py`. What
    this test owns is the live path: that one retrain covers every waiting mark and answers
    every request.

    "Purged by this module's worker": until 2026-12-08 the test took the session worker's
    `purged` statuses too (it answers the same requests from its own consumer group, without
    an adapter set), so it could start the trainer while this worker was still rebuilding the
    item-level request's summary chain (~5 s), before the other four purges; the ledger of a
    failed CI run showed exactly that (marks 3-6 written 1.5 s after the trainer started), and
    the trainer then retrained twice, as it should."""
    bootstrap = kafka_broker.bootstrap
    _, users, events, keys, root, version = serve_a_set(stack, bootstrap, tiny_model_dir, uid, "b", 3)
    members = read_members(root, version) or {}
    held = [u for u in users if keys[u] in members][:4]
    assert len(held) == 4, members
    requests = [deletion(f"{uid}-burst-{n}", u) for n, u in enumerate(held)]
    first = events[held[0]]
    requests.append(deletion(f"{uid}-burst-items", held[0], [first[0].item_id, first[1].item_id]))
    requests.insert(0, requests.pop())  # the item-level request goes first, its user later
    trainer = TrainerProcess(stack, tiny_model_dir, STREAMREC_RETRAIN_DEBOUNCE_S="4")
    with TopicReader(bootstrap, DELETION_STATUS) as statuses:
        for request in requests:
            request_deletion(bootstrap, request)
        ids = {r.request_id for r in requests}
        purged = first_status_each(statuses, ids, "purged", 120, detail_has="marked dirty")
        assert set(purged) == ids, purged
        dirty = json.loads(urllib.request.urlopen(f"{stack.url}/adapters/dirty/", timeout=10).read())
        assert ids <= {m["request_id"] for m in dirty["active"]}, dirty
        trainer.start()
        try:
            retrained = first_status_each(statuses, ids, "retrained", 300)
        finally:
            trainer.stop()
    assert set(retrained) == ids, trainer.log_tail()
    new_version = read_current(root)
    assert new_version is not None
    # Which set answered each request first: on a failure, with both processes' logs, so that
    # a second retrain can be traced (its cause so far was the one in the docstring).
    answered_by = {
        request_id: r["detail"].split(" as ")[1].split(":")[0] for request_id, r in retrained.items()
    }
    assert len(set(answered_by.values())) == 1, (
        f"one retrain for the burst: {answered_by}\n--- trainer ---\n{trainer.log_tail()}"
        f"\n--- worker ---\n{stack.log_tail()}"
    )
    trained = [s["shard"] for s in read_manifest(root, new_version)["shards"] if not s["reused"]]
    dirty = {s for u in held for s in members[keys[u]]}
    assert set(trained) == dirty, (trained, dirty)
    verify = cli(["adapters", "verify", new_version], {**trainer.env, "COLUMNS": "200"})
    assert verify.returncode == 0, verify.stdout + verify.stderr
    (root / "CURRENT").unlink()
    for published in (version, new_version):
        shutil.rmtree(root / published, ignore_errors=True)
