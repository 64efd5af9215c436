"""Scenario 3: the broker gone for 30 s, back empty; the worker reconnects or is restarted.

The embedded Tansu broker keeps topics in memory only, so a broker that stops and starts again
comes back *empty*: the scenario recreates the topics (``ensure_topics``, what ``streamrec up``
does) on the same port. Whatever the broker held and the worker had not stored is the broker's
loss, not the worker's; so the property verified is about what follows:

* part A of a MovieLens replay is published; the broker is stopped (SIGTERM) while the worker
  is still ingesting it, stays down ``down_s`` and restarts with the topics recreated;
* part B is published after the broker is back. A supervisor loop restarts the worker whenever
  it exits (a fail-stop or a crash), as an orchestrator would.

Verified:

1. **B exactly once.** Every part-B click is stored, field by field, none twice.
2. **A never invented.** Stored part-A clicks are a subset of those published, none twice; how
   many were lost with the broker is reported, not judged.
3. **B answered.** Every user with part-B clicks gets a recommendation answering their last one;
   nobody is pending at the end.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
from streams.kafka import ContractProducer, ensure_topics
from streams.local import TansuBroker, free_port
from streams.store import Store

__all__ = ["BrokerOutageConfig", "run"]

NAME = "broker down and back empty"


@dataclass(frozen=True)
class BrokerOutageConfig:
    movielens: Path | None
    clicks_before: int = 3_000
    clicks_after: int = 3_000
    # Part A goes out at full speed and the broker dies as soon as it has acknowledged it, so
    # the worker is typically still ingesting: some of A is the broker's loss.
    rate_a: float = 20_000.0
    rate_b: float = 500.0
    down_s: float = 30.0
    drain_timeout_s: float = 300.0
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("clicks_before", "clicks_after", "rate_a", "rate_b", "down_s", "drain_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"BrokerOutageConfig.{name} must be > 0, got {getattr(self, name)}")


class Supervisor:
    """Restarts the worker whenever it exits, like an orchestrator; records every exit."""

    def __init__(self, worker: Any) -> None:
        self.worker = worker
        self.exits: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-supervisor", daemon=True)
        self.started = time.monotonic()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            code = self.worker.exit_code()
            if code is None:
                continue
            exit_at = round(time.monotonic() - self.started, 1)
            try:
                restart = round(self.worker.start(timeout_s=240), 1)
            except Exception as exc:  # keep supervising: the broker may still be down
                restart = f"failed: {str(exc).splitlines()[0][:120]}"
            self.exits.append({"at_s": exit_at, "exit_code": code, "restart_s": restart})

    def start(self) -> Supervisor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join(300)


def run(stack: ChaosStack, config: BrokerOutageConfig) -> ScenarioResult:
    result = ScenarioResult(3, NAME)
    if config.movielens is None:
        result.skipped = "MovieLens not found (--movielens)"
        return result
    items, clicks = movielens_stream(config.movielens, config.clicks_before + config.clicks_after)
    part_a, part_b = clicks[: config.clicks_before], clicks[config.clicks_before :]
    port = free_port()
    broker = TansuBroker("127.0.0.1", port, log_path=stack.work / "tansu-broker-outage.log")
    broker.start()
    ensure_topics(broker.bootstrap, PARTITIONS)
    worker = stack.worker("broker-outage", broker.bootstrap)
    supervisor = Supervisor(worker)
    recs: TopicLog | None = None
    try:
        with ContractProducer(broker.bootstrap) as producer:
            producer.send_all(ITEMS, ((i.item_id, i) for i in items))
        worker.start(timeout_s=180)
        supervisor.start()
        a = PacedPublisher(
            broker.bootstrap, [(CLICKS, c.user_id, c) for c in part_a], config.rate_a, "part A", False
        ).start()
        a.join()  # acknowledged by the broker: from here on, A is the broker's to keep
        # 1. The fault: the broker stops (SIGTERM) and with it every record it held ...
        broker.stop()
        down_at = time.monotonic()
        result.figures.update(part_a_published=a.sent, stored_at_broker_stop=_stored(worker))
        time.sleep(config.down_s)
        # ... and comes back empty on the same port; the topics are recreated.
        broker = TansuBroker("127.0.0.1", port, log_path=stack.work / "tansu-broker-outage-2.log")
        broker.start()
        ensure_topics(broker.bootstrap, PARTITIONS)
        back_at = time.monotonic()
        result.figures["outage_s"] = round(back_at - down_at, 1)
        recs = TopicLog(broker.bootstrap, RECOMMENDATIONS).start()
        b = PacedPublisher(
            broker.bootstrap,
            [(CLICKS, c.user_id, c) for c in part_b],
            config.rate_b,
            "part B",
            config.progress,
        ).start()
        b.join()
        if a.error is not None or b.error is not None:
            raise RuntimeError(f"a part was not published: {a.error!r} {b.error!r}")
        last_b = {c.user_id: str(c.event_id) for c in part_b}
        # 2. The end: nothing pending and nothing stored for a while (the expected count is
        # unknown, since some of A may be the broker's loss).
        drained = wait_for(Settled(worker, quiet_s=10.0), config.drain_timeout_s, 1.0)
        wait_for(lambda: all(_final(recs, u) == e for u, e in last_b.items()), 60, 1.0)
        # Where each partition stands: the offsets the worker stored against the recreated log.
        # (Not compared with the topic's end offsets: Tansu's high watermark is the last
        # batch's base offset + 1, see ``Ingest.stale_partitions``; the checks count records.)
        stored = {int(p): int(o) for p, o in worker.status()["offsets"].get(CLICKS, {}).items()}
        result.figures["stored_offsets_after"] = stored
        result.figures["settle_after_b_s"] = round(time.monotonic() - back_at, 1)
        supervisor.stop()
        result.figures["worker_exits"] = supervisor.exits
        worker.stop(timeout_s=60)
    finally:
        supervisor.stop()
        worker.kill()
        if recs is not None:
            recs.stop()
        broker.stop()
    _verify(result, worker.data_dir / "streamrec.duckdb", part_a, part_b, recs, drained)
    return result


class Settled:
    """True once the worker answers, nobody is pending and the stored count has not moved for
    ``quiet_s``: the end of a run whose expected count is unknown (the broker's loss is)."""

    def __init__(self, worker: Any, quiet_s: float) -> None:
        self.worker = worker
        self.quiet_s = quiet_s
        self.last: tuple[int, int] | None = None
        self.since = time.monotonic()

    def __call__(self) -> bool:
        try:
            status = self.worker.status(timeout_s=5)
        except OSError:
            self.last = None
            return False
        now = (int(status["tables"]["interactions"]), int(status["pending_users"]))
        if now != self.last:
            self.last, self.since = now, time.monotonic()
            return False
        return now[1] == 0 and time.monotonic() - self.since >= self.quiet_s


def _stored(worker: Any) -> int | None:
    try:
        return int(worker.interactions())
    except OSError:
        return None


def _final(recs: TopicLog | None, user: str) -> str | None:
    if recs is None:
        return None
    return last_by_user(recs.values()).get(user, {}).get("trigger_event_id")


def _verify(
    result: ScenarioResult,
    database: Path,
    part_a: list[Any],
    part_b: list[Any],
    recs: TopicLog | None,
    drained: bool,
) -> None:
    store = Store(database, read_only=True)
    try:
        rows = store.audit.query("SELECT event_id, user_id, item_id, rating, ts FROM interactions")
        pending = store.pending.count()
    finally:
        store.close()
    stored: dict[str, tuple[Any, ...]] = {}
    duplicates = 0
    for event_id, *fields in rows:
        duplicates += str(event_id) in stored
        stored[str(event_id)] = (str(fields[0]), str(fields[1]), float(fields[2]), int(fields[3]))
    want_b = {str(c.event_id): (c.user_id, c.item_id, float(c.rating), int(c.ts)) for c in part_b}
    want_a = {str(c.event_id): (c.user_id, c.item_id, float(c.rating), int(c.ts)) for c in part_a}
    missing_b = [e for e in want_b if e not in stored]
    changed_b = [e for e in want_b if e in stored and stored[e] != want_b[e]]
    stored_a = [e for e in stored if e in want_a]
    invented = [e for e in stored if e not in want_a and e not in want_b]
    result.figures.update(
        part_b_published=len(want_b),
        part_b_stored=len(want_b) - len(missing_b),
        part_a_stored=len(stored_a),
        part_a_lost_with_broker=len(want_a) - len(stored_a),
        duplicates=duplicates,
        pending_at_end=pending,
    )
    result.check(
        "every click published after the broker returned is stored exactly once",
        not missing_b and not changed_b and not duplicates,
        f"{len(want_b) - len(missing_b)}/{len(want_b)} part-B clicks stored, {len(changed_b)} changed, "
        f"{duplicates} duplicates" + (f" (missing e.g. {missing_b[:3]})" if missing_b else ""),
    )
    result.check(
        "nothing stored that was not published (part A: lost with the broker is reported, not judged)",
        not invented,
        f"{len(stored_a)}/{len(want_a)} part-A clicks stored, {len(want_a) - len(stored_a)} lost with the "
        f"memory-only broker; {len(invented)} stored clicks were never published",
    )
    last_b = {c.user_id: str(c.event_id) for c in part_b}
    unanswered = [u for u, e in last_b.items() if _final(recs, u) != e]
    result.check(
        "every user with clicks after the outage is answered; nobody pending",
        drained and not unanswered and pending == 0,
        f"{len(last_b) - len(unanswered)}/{len(last_b)} users answered their last click; "
        f"rec_pending rows {pending}",
    )
