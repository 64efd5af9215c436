"""Scenario 4: the disk under DuckDB fills up while clicks flow; the worker must fail-stop.

The worker's data directory is put on a small tmpfs (``mount -t tmpfs -o size=...``; this
needs root or password-less sudo, and the scenario says SKIP with the exact reason where the
mount is refused). Part A of a MovieLens replay is stored, then the filesystem is filled to the
last byte with a filler file and part B is published. Verified:

1. **Fail-stop.** The worker exits with ``FAIL_STOP_EXIT_CODE`` (75, ``streams.delivery.durable``)
   once its durable write keeps failing, instead of running on without storing.
2. **No offset committed for unstored events.** Right after the exit, the consumer group's
   committed Kafka offsets on ``clicks`` are at or below the offsets DuckDB stored with the data,
   in every partition (read from the file, read-only): Kafka will redeliver everything unstored.
3. **Nothing lost once space returns.** The filler is deleted, the worker restarted, and the
   stored interactions equal every published click, field by field, none twice; every user's
   final recommendation answers their last click.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from streams.chaos.harness import (
    PARTITIONS,
    ChaosStack,
    PacedPublisher,
    ScenarioResult,
    TopicLog,
    last_by_user,
    movielens_stream,
    wait_for,
)
from streams.contracts import CLICKS, ITEMS, RECOMMENDATIONS
from streams.delivery import FAIL_STOP_EXIT_CODE
from streams.kafka import ContractProducer, end_offsets
from streams.store import Store

__all__ = ["DiskFullConfig", "mount_tmpfs", "run", "unmount"]

NAME = "disk full under DuckDB"


@dataclass(frozen=True)
class DiskFullConfig:
    movielens: Path | None
    size_mb: int = 64  # the tmpfs: room for the store, the catalog and part A
    clicks_before: int = 2_000
    clicks_after: int = 3_000
    rate: float = 500.0
    exit_timeout_s: float = 120.0  # the fail-stop retries for ~6 s; generous for a busy CPU
    drain_timeout_s: float = 300.0
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("size_mb", "clicks_before", "clicks_after", "rate", "exit_timeout_s", "drain_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"DiskFullConfig.{name} must be > 0, got {getattr(self, name)}")


def _privileged(command: list[str]) -> list[str] | None:
    if os.geteuid() == 0:
        return command
    return ["sudo", "-n", *command] if shutil.which("sudo") else None


def mount_tmpfs(target: Path, size_mb: int) -> str | None:
    """Mount a ``size_mb`` tmpfs on ``target``; None on success, else why it cannot be done here."""
    target.mkdir(parents=True, exist_ok=True)
    command = _privileged(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(target)])
    if command is None or shutil.which("mount") is None:
        return "mounting a tmpfs needs root or password-less sudo (not root here, and no sudo)"
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        return f"`{' '.join(command)}` failed (exit {done.returncode}): {done.stderr.strip()[:300]}"
    return None


def unmount(target: Path) -> None:
    """Unmount (lazily if something still holds it); errors are left to the caller's log."""
    for flags in ([], ["-l"]):
        command = _privileged(["umount", *flags, str(target)])
        if command and subprocess.run(command, capture_output=True, timeout=30).returncode == 0:
            return


def fill(directory: Path) -> int:
    """Write a filler file until the filesystem refuses another byte; returns its size."""
    written = 0
    with open(directory / "filler", "wb", buffering=0) as out:
        for chunk in (1 << 20, 1 << 12, 1):
            block = b"\0" * chunk
            while True:
                try:
                    written += out.write(block)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    return written


def committed_offsets(bootstrap: str, group: str) -> dict[int, int]:
    """The consumer group's committed offsets on ``clicks`` (without joining the group)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        found = consumer.committed([TopicPartition(CLICKS, p) for p in range(PARTITIONS)], timeout=10)
        return {tp.partition: tp.offset for tp in found if tp.offset >= 0}
    finally:
        consumer.close()


def run(stack: ChaosStack, config: DiskFullConfig) -> ScenarioResult:
    result = ScenarioResult(4, NAME)
    if config.movielens is None:
        result.skipped = "MovieLens not found (--movielens)"
        return result
    mountpoint = stack.work / "small-disk"
    refused = mount_tmpfs(mountpoint, config.size_mb)
    if refused is not None:
        result.skipped = refused
        return result
    try:
        _run_mounted(stack, config, mountpoint, result)
    finally:
        unmount(mountpoint)
    return result


def _run_mounted(stack: ChaosStack, config: DiskFullConfig, mountpoint: Path, result: ScenarioResult) -> None:
    items, clicks = movielens_stream(config.movielens or Path(), config.clicks_before + config.clicks_after)
    part_a, part_b = clicks[: config.clicks_before], clicks[config.clicks_before :]
    database = mountpoint / "data" / "streamrec.duckdb"
    with stack.broker("disk-full") as broker:
        with ContractProducer(broker.bootstrap) as producer:
            producer.send_all(ITEMS, ((i.item_id, i) for i in items))
        worker = stack.worker("disk-full", broker.bootstrap, data_dir=mountpoint / "data")
        recs = TopicLog(broker.bootstrap, RECOMMENDATIONS).start()
        try:
            worker.start(timeout_s=180)
            a = PacedPublisher(
                broker.bootstrap, [(CLICKS, c.user_id, c) for c in part_a], config.rate, "A", False
            )
            a.start().join()
            if not wait_for(lambda: _count(worker) == len(part_a), 120, 0.5):
                raise RuntimeError(f"part A not stored before the fault: {_count(worker)}/{len(part_a)}")
            # 1. The fault: not one free byte left under the store.
            result.figures["filler_mb"] = round(fill(mountpoint) / 2**20, 1)
            full_at = time.monotonic()
            b = PacedPublisher(
                broker.bootstrap, [(CLICKS, c.user_id, c) for c in part_b], config.rate, "B", config.progress
            ).start()
            exited = wait_for(lambda: worker.exit_code() is not None, config.exit_timeout_s, 0.2)
            code = worker.exit_code()
            result.figures.update(exit_code=code, exit_after_full_s=round(time.monotonic() - full_at, 1))
            b.join()
            kafka = committed_offsets(broker.bootstrap, "chaos-disk-full") if exited else {}
            stored = _stored_offsets(database) if exited else {}
            # Published but not stored when the worker stopped: what the check below protects.
            unstored = sum(end_offsets(broker.bootstrap, CLICKS).values()) - sum(stored.values())
            result.figures.update(kafka_committed=kafka, duckdb_offsets=stored, unstored_at_exit=unstored)
            result.check(
                "the worker fail-stopped when the disk filled",
                exited and code == FAIL_STOP_EXIT_CODE,
                f"exit code {code} ({FAIL_STOP_EXIT_CODE} = fail-stop) "
                + (
                    f"{result.figures['exit_after_full_s']:g} s after the disk filled"
                    if exited
                    else f"still running {config.exit_timeout_s:g} s after the disk filled"
                ),
            )
            ahead = {p: (k, stored.get(p, 0)) for p, k in kafka.items() if k > stored.get(p, 0)}
            result.check(
                "no Kafka offset committed beyond what DuckDB stored",
                exited and not ahead,
                f"committed {kafka} vs stored {stored} per partition, with {unstored} published clicks "
                f"not stored" + (f"; ahead in {ahead}" if ahead else ""),
            )
            # 2. Space returns; the worker starts again and catches up.
            worker.kill()
            (mountpoint / "filler").unlink()
            result.figures["restart_s"] = round(worker.start(timeout_s=180), 1)
            total = len(part_a) + len(part_b)
            caught_up = wait_for(
                lambda: _count(worker) == total and _pending(worker) == 0, config.drain_timeout_s, 1.0
            )
            last = {c.user_id: str(c.event_id) for c in clicks}
            wait_for(
                lambda: all(
                    last_by_user(recs.values()).get(u, {}).get("trigger_event_id") == e
                    for u, e in last.items()
                ),
                60,
                1.0,
            )
            worker.stop(timeout_s=60)
        finally:
            worker.kill()
            recs.stop()
    _verify(result, database, clicks, recs, caught_up)


def _count(worker: Any) -> int | None:
    try:
        return int(worker.interactions())
    except OSError:
        return None


def _pending(worker: Any) -> int | None:
    try:
        return int(worker.status(timeout_s=5)["pending_users"])
    except OSError:
        return None


def _stored_offsets(database: Path) -> dict[int, int]:
    store = Store(database, read_only=True)
    try:
        return store.ingest.committed_offsets(CLICKS)
    finally:
        store.close()


def _verify(
    result: ScenarioResult, database: Path, clicks: list[Any], recs: TopicLog, caught_up: bool
) -> None:
    store = Store(database, read_only=True)
    try:
        rows = store.audit.query("SELECT event_id, user_id, item_id, rating, ts FROM interactions")
        pending = store.pending.count()
    finally:
        store.close()
    want = {str(c.event_id): (c.user_id, c.item_id, float(c.rating), int(c.ts)) for c in clicks}
    got: dict[str, tuple[Any, ...]] = {}
    duplicates = 0
    for event_id, user, item, rating, ts in rows:
        duplicates += str(event_id) in got
        got[str(event_id)] = (str(user), str(item), float(rating), int(ts))
    missing = [e for e in want if e not in got]
    wrong = [e for e in got if want.get(e) != got[e]]
    result.figures.update(published=len(want), stored=len(rows), missing=len(missing), duplicates=duplicates)
    result.check(
        "after space returned, every click stored exactly once",
        caught_up and not missing and not wrong and not duplicates,
        f"{len(rows)} stored of {len(want)} published; missing {len(missing)}, unexpected or changed "
        f"{len(wrong)}, duplicates {duplicates}",
    )
    last = {c.user_id: str(c.event_id) for c in clicks}
    finals = last_by_user(recs.values())
    unanswered = [u for u, e in last.items() if finals.get(u, {}).get("trigger_event_id") != e]
    result.check(
        "every user's final recommendation answers their last click; nobody pending",
        not unanswered and pending == 0,
        f"{len(last) - len(unanswered)}/{len(last)} users answered; rec_pending rows {pending}",
    )
