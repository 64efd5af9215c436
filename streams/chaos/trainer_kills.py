"""Scenario 5: the trainer SIGKILLed mid-retrain and mid-publish; the served set stays whole.

Twelve users click, an adapter set is trained from the worker's snapshot with the tiny model
(as ``tests/e2e/test_unlearning.py`` does) and served by Triton, and one of its users is
forgotten. The trainer process then retrains the dirty shard and is killed twice on the way:

* **mid-retrain**: a seeded moment after its log says ``retraining``, before anything is
  published;
* **mid-publish**: the moment a half-written set (``.tmp-vNNNN-*``) appears in the adapters
  directory (``serving.adapters.write_adapter_set``); the killed writer leaves it behind. The
  window is about 20 ms, so a poll that comes too late on a busy CPU sees the set published;
  then another user is forgotten to give the trainer another set to publish (up to
  ``publish_attempts`` tries, every miss reported).

One more start must finish every retrain. Verified throughout and after:

1. **Always a complete set.** A poller (``served_set.ServedSetChecker``) reads ``CURRENT`` every
   ``poll_s`` during the whole run and checks that every shard file its manifest lists exists
   with the listed sha256, and every other file it names or the scorer reads exists.
2. **Each kill landed where it was aimed** (from the directory: no new version after the first,
   a ``.tmp-`` directory after the second), so the figures say what was tested.
3. **The retraining resumed.** ``retrained`` arrives for every request; against the first set,
   exactly the forgotten users' shards changed, the new set lists none of them, no dirty mark is
   left and the half-written set was removed.
4. **The proof still holds.** ``streamrec adapters verify`` rebuilds the final set from scratch
   and finds it byte-identical.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from serving.adapters import CURRENT, list_versions, read_current, read_manifest, read_members
from streams.chaos.harness import ChaosStack, ScenarioResult, TopicLog, wait_for
from streams.chaos.served_set import ServedSetChecker, temporary_sets
from streams.contracts import CLICKS, DELETION_STATUS, DELETIONS, ITEMS, SCHEMA_VERSION, Click, Deletion, Item
from streams.kafka import ContractProducer
from streams.local import TrainerProcess
from streams.worker_client import call_worker

__all__ = ["Forgetting", "TrainerKillsConfig", "run"]

NAME = "trainer killed mid-retrain and mid-publish"

GENRES = ("Drama", "Comedy", "Action", "Sci-Fi", "Romance")


@dataclass(frozen=True)
class TrainerKillsConfig:
    movielens: Path | None = None  # unused: the data is synthetic, so CI needs no dataset
    users: int = 12
    clicks_per_user: int = 10
    shards: int = 3
    poll_s: float = 0.1  # the served-set integrity poller
    retrain_kill_max_s: float = 1.0  # the mid-retrain kill lands within this after "retraining"
    timeout_s: float = 300.0
    publish_attempts: int = 3  # the mid-publish window is ~20 ms: a late poll gets another set
    verify: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.users < self.shards * 2 or self.clicks_per_user < 4:
            raise ValueError(
                "TrainerKillsConfig needs users >= 2 x shards and clicks_per_user >= 4, got "
                f"users={self.users}, shards={self.shards}, clicks_per_user={self.clicks_per_user}"
            )
        if self.publish_attempts < 1 or self.users <= self.publish_attempts:
            raise ValueError(
                "TrainerKillsConfig.publish_attempts must be >= 1 with a user to forget for each, "
                f"got {self.publish_attempts} for {self.users} users"
            )
        for name in ("poll_s", "retrain_kill_max_s", "timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"TrainerKillsConfig.{name} must be > 0, got {getattr(self, name)}")


def _data(config: TrainerKillsConfig) -> tuple[list[Item], dict[str, list[Click]]]:
    """A 40-item catalog and ``users`` users with overlapping histories (as the e2e test has)."""
    items = [
        Item(schema_version=SCHEMA_VERSION, item_id=f"k-m{i}", title=f"Movie {i}", categories=[GENRES[i % 5]])
        for i in range(40)
    ]
    events: dict[str, list[Click]] = {}
    for n in range(config.users):
        user = f"k-user-{n}"
        events[user] = [
            Click(
                schema_version=SCHEMA_VERSION,
                event_id=f"{user}-e{k}",
                user_id=user,
                item_id=items[(n * 5 + k) % 40].item_id,
                event_type="rating" if k % 2 == 0 else "click",
                rating=4.0 if k % 2 == 0 else None,
                ts=1_600_000_000_000 + k * 1000,
            )
            for k in range(config.clicks_per_user)
        ]
    return items, events


def _serve_a_set(
    stack: ChaosStack, worker: Any, config: TrainerKillsConfig, events: dict[str, list[Click]]
) -> tuple[str, dict[str, str]]:
    """Train a set from the worker's snapshot (in this process) and make it current."""
    import pyarrow.parquet as pq

    from models.training.lora import LoraSettings
    from models.training.shards import ShardingConfig
    from streams.training import train_from_snapshot

    snapshot = Path(call_worker(worker.url, "/adapters/snapshot/", {}, timeout_s=120)["path"])
    owner = {c.event_id: user for user, clicks in events.items() for c in clicks}
    keys = {
        owner[row["event_id"]]: str(row["user_key"])
        for row in pq.read_table(
            snapshot / "interactions.parquet", columns=["event_id", "user_key"]
        ).to_pylist()
    }
    sharding = ShardingConfig(
        shards=config.shards,
        partition="random",  # the tiny model's item vectors may put everyone in one semantic shard
        max_samples=None,
        lora=replace(LoraSettings(), max_epochs=1),
    )
    version = train_from_snapshot(snapshot, worker.data_dir / "adapters", stack.model_dir, sharding)
    return version, keys


@dataclass
class Forgetting:
    """The deletions of the run: each request, its user and the shards holding them when asked."""

    broker: str
    statuses: TopicLog
    keys: dict[str, str]  # user -> salted key (from the snapshot)
    seed: int
    requests: list[tuple[str, Deletion, tuple[int, ...]]] = field(default_factory=list)

    def forget(self, root: Path, rng: random.Random) -> None:
        """Forget one more user with samples in the current set; wait for ``purged``."""
        current = read_current(root)
        members = (read_members(root, current) if current else None) or {}
        gone = {user for user, _, _ in self.requests}
        held = sorted(u for u, k in self.keys.items() if k in members and u not in gone)
        if current is None or not held:
            raise RuntimeError(f"no user left to forget in {current}: members {sorted(members)}")
        user = rng.choice(held)
        request = Deletion(
            schema_version=SCHEMA_VERSION,
            request_id=f"chaos-trainer-{self.seed}-{len(self.requests)}",
            user_id=user,
            requested_at=int(time.time() * 1000),
        )
        with ContractProducer(self.broker) as producer:
            producer.send(DELETIONS, user, request)
        if not wait_for(lambda: request.request_id in self.reached("purged"), 90, 0.3):
            raise RuntimeError(f"no purged status for {request.request_id}: {self.statuses.values()}")
        self.requests.append((user, request, members[self.keys[user]]))

    def reached(self, stage: str) -> set[str]:
        return {str(v.get("request_id")) for v in self.statuses.values() if v.get("stage") == stage}


def _kill_mid_retrain(
    result: ScenarioResult,
    trainer: TrainerProcess,
    root: Path,
    rng: random.Random,
    config: TrainerKillsConfig,
) -> None:
    """Kill 1: a seeded moment after the trainer says it is retraining, before it publishes."""
    before = list_versions(root)
    trainer.start()
    if not wait_for(lambda: "retraining v" in trainer.log_tail(20_000), 120, 0.05):
        raise RuntimeError(f"the trainer never started retraining:\n{trainer.log_tail()}")
    delay = round(rng.uniform(0.0, config.retrain_kill_max_s), 2)
    time.sleep(delay)
    trainer.kill()
    after = list_versions(root)
    result.figures["kill_mid_retrain_after_s"] = delay
    result.check(
        "kill 1 landed mid-retrain (nothing published yet)",
        after == before and not temporary_sets(root),
        f"killed {delay} s after 'retraining'; versions on disk {before} -> {after}, "
        f"half-written {temporary_sets(root)}",
    )


def _kill_mid_publish(
    result: ScenarioResult,
    trainer: TrainerProcess,
    root: Path,
    forgetting: Forgetting,
    rng: random.Random,
    config: TrainerKillsConfig,
) -> None:
    """Kill 2: the moment a half-written set appears. The window is tens of milliseconds, so a
    busy CPU can make the poll late; then the set is out, and another user is forgotten to give
    the trainer another set to publish (up to ``publish_attempts`` tries, all reported)."""
    missed: list[str] = []
    for attempt in range(1, config.publish_attempts + 1):
        before = list_versions(root)
        trainer.start()
        appeared = wait_for(lambda: bool(temporary_sets(root)), config.timeout_s, 0.001)
        trainer.kill()
        left, after = temporary_sets(root), list_versions(root)
        if appeared and left and after == before:
            result.figures.update(publish_kill_attempts=attempt, half_written_left=left)
            result.check(
                "kill 2 landed mid-publish (a half-written set was left behind)",
                True,
                f"attempt {attempt}: half-written {left} left, versions still {after}"
                + (f"; earlier misses: {missed}" if missed else ""),
            )
            return
        missed.append(f"attempt {attempt}: {before} -> {after}, half-written {left}")
        if attempt < config.publish_attempts:
            forgetting.forget(root, rng)
    result.figures["publish_kill_attempts"] = config.publish_attempts
    result.check("kill 2 landed mid-publish (a half-written set was left behind)", False, f"missed: {missed}")


def run(stack: ChaosStack, config: TrainerKillsConfig) -> ScenarioResult:
    result = ScenarioResult(5, NAME)
    rng = random.Random(config.seed)
    items, events = _data(config)
    data_dir = stack.adapters_data_dir
    shutil.rmtree(data_dir, ignore_errors=True)  # Triton serves this directory's sets
    root = data_dir / "adapters"
    with stack.broker("trainer-kills") as broker:
        worker = stack.worker("trainer-kills", broker.bootstrap, data_dir=data_dir)
        trainer = TrainerProcess(
            data_dir,
            worker.web_port,
            stack.model_dir,
            env={
                "STREAMREC_RETRAIN_DEBOUNCE_S": "1",
                "STREAMREC_RETRAIN_POLL_S": "0.5",
                "STREAMREC_REFRESH_POLL_S": "3600",  # only the deletions' retrains, no refresh
            },
            log_path=stack.work / "trainer-kills-trainer.log",
        )
        statuses = TopicLog(broker.bootstrap, DELETION_STATUS).start()
        checker = ServedSetChecker(root, config.poll_s)
        try:
            worker.start(timeout_s=180)
            total = sum(len(c) for c in events.values())
            with ContractProducer(broker.bootstrap) as producer:
                producer.send_all(ITEMS, ((i.item_id, i) for i in items))
                producer.flush()
                producer.send_all(CLICKS, ((c.user_id, c) for cs in events.values() for c in cs))
            if not wait_for(lambda: worker.interactions() >= total, 120, 0.5):
                raise RuntimeError(f"the worker stored {worker.interactions()} of {total} clicks")
            started = time.monotonic()
            served, keys = _serve_a_set(stack, worker, config, events)
            result.figures["initial_train_s"] = round(time.monotonic() - started, 1)
            initial = {int(s["shard"]): str(s["sha256"]) for s in read_manifest(root, served)["shards"]}
            checker.start()
            forgetting = Forgetting(broker.bootstrap, statuses, keys, config.seed)
            forgetting.forget(root, rng)
            retrain_started = time.monotonic()
            _kill_mid_retrain(result, trainer, root, rng, config)
            _kill_mid_publish(result, trainer, root, forgetting, rng, config)

            # 3. Resume: one more start finishes every retrain.
            trainer.start()
            wanted = {request.request_id for _, request, _ in forgetting.requests}
            done = wait_for(lambda: wanted <= forgetting.reached("retrained"), config.timeout_s, 0.3)
            result.figures["forget_to_retrained_s"] = round(time.monotonic() - retrain_started, 1)
            checker.stop()
            trainer.stop()
            new = read_current(root)
            final = (
                {int(s["shard"]): str(s["sha256"]) for s in read_manifest(root, new)["shards"]} if new else {}
            )
            changed = {k for k, sha in initial.items() if final.get(k) != sha}
            dirty_shards = {k for _, _, shards in forgetting.requests for k in shards}
            members = (read_members(root, new) if new else None) or {}
            still = [u for u, _, _ in forgetting.requests if keys[u] in members]
            dirty = call_worker(worker.url, "/adapters/dirty/")
            leftovers = temporary_sets(root)
            result.figures.update(
                served=served,
                final=new,
                forgotten=len(forgetting.requests),
                forgotten_users_shards=sorted(dirty_shards),
            )
            result.check(
                "the retrain resumed: retrained arrived, only the forgotten users' shards changed",
                done
                and new not in (None, served)
                and changed == dirty_shards
                and not still
                and not dirty["active"]
                and not leftovers,
                f"retrained for {len(wanted & forgetting.reached('retrained'))}/{len(wanted)} requests; "
                f"CURRENT {served} -> {new}; shards changed {sorted(changed)} (forgotten users' "
                f"{sorted(dirty_shards)}); forgotten users still members {len(still)}; active dirty marks "
                f"{len(dirty['active'])}; half-written sets left {leftovers}",
            )
            if config.verify and new is not None:
                result.check(*_verify(trainer.env, new))
            result.figures.update(
                served_set_polls=checker.polls,
                versions_served=checker.versions,
                served_set_violations=len(checker.violations),
            )
            result.check(
                "the served set was complete at every poll (every listed file present, shard sha256 equal)",
                checker.polls > 0 and not checker.violations,
                f"{checker.polls} polls every {config.poll_s:g} s over versions {checker.versions}; "
                f"{len(checker.violations)} violations {checker.violations[:3]}",
            )
            worker.stop(timeout_s=60)
        finally:
            checker.stop()
            trainer.kill()
            worker.kill()
            statuses.stop()
            # Later scenarios share Triton: leave it serving the zero-shot model.
            (root / CURRENT).unlink(missing_ok=True)
    return result


def _verify(env: dict[str, str], version: str) -> tuple[str, bool, str]:
    """``streamrec adapters verify VERSION`` through the running worker: exit 0, byte-identical."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli.main", "adapters", "verify", version],
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    ok = done.returncode == 0 and "byte-identical" in done.stdout
    said = [line.strip() for line in done.stdout.splitlines() if "identical" in line or "differ" in line]
    tail = said[-1:] or (done.stdout + done.stderr).strip().splitlines()[-1:] or [""]
    return (
        "streamrec adapters verify: the retrained set equals a from-scratch rebuild",
        ok,
        f"exit {done.returncode} in {time.monotonic() - started:.0f} s: {tail[0][:200]}",
    )
