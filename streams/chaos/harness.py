"""What every fault scenario shares: the stack it breaks, the records it watches, the verdict.

A scenario runs the real processes: the embedded Tansu broker (``streams.local.TansuBroker``),
a real ``tritonserver`` (``serving.launcher``) and the worker and trainer as child processes
(``streams.local.WorkerProcess``, ``TrainerProcess``), because a fault is only real if it hits
the process that has to survive it. One :class:`ChaosStack` holds what is expensive to start
(the tiny model and Triton) across scenarios; every scenario gets a fresh broker, so its topics
hold its own records only and "every record" means exactly the records it published.

The verdict is a list of :class:`Check` lines with the figures behind them. A scenario passes
only if it ran and every check passed; one that could not run says SKIP and why, never PASS.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from tqdm import tqdm

from serving.launcher import DEFAULT_MODEL_REPOSITORY, TritonConfig, TritonServer, free_ports
from serving.settings import ENV_ADAPTERS_DIR, ENV_SUMMARIZER_MODEL_PATH
from streams.contracts import CLICKS, Click, Item
from streams.kafka import ContractProducer, TopicReader, ensure_topics
from streams.local import TansuBroker, WorkerProcess, free_port
from streams.replay import load_movielens

__all__ = [
    "PARTITIONS",
    "ChaosStack",
    "Check",
    "ScenarioResult",
    "Seen",
    "Status",
    "PacedPublisher",
    "TopicLog",
    "last_by_user",
    "movielens_stream",
    "seeded_gaps",
    "wait_for",
]

PARTITIONS = 4  # as in production: a kill must hit a multi-partition consumer
TRITON_READY_S = 300.0  # the Python stub imports torch and transformers before it loads
# Worker settings for every scenario. Summaries are off: they compete with ranking for the
# CPU (README, "Live summaries starve ranking on 2 cores") and no scenario is about them.
WORKER_ENV = {"STREAMREC_SUMMARY_BLOCK": "0", "STREAMREC_LOG_LEVEL": "info"}

Status = Literal["PASS", "FAIL", "SKIP"]


@dataclass(frozen=True)
class Check:
    """One verified property: what was compared and the figures that decided it."""

    name: str
    passed: bool
    detail: str


@dataclass
class ScenarioResult:
    """A scenario's verdict and everything measured on the way (JSON-ready figures)."""

    number: int
    name: str
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None  # why the scenario could not run
    error: str | None = None  # an exception that stopped it half way
    seconds: float = 0.0

    @property
    def status(self) -> Status:
        if self.skipped is not None:
            return "SKIP"
        ok = self.error is None and bool(self.checks) and all(c.passed for c in self.checks)
        return "PASS" if ok else "FAIL"

    def check(self, name: str, passed: bool, detail: str) -> bool:
        """Record one property; returns ``passed`` so callers can branch on it."""
        self.checks.append(Check(name, bool(passed), detail))
        return bool(passed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.number,
            "name": self.name,
            "status": self.status,
            "seconds": round(self.seconds, 1),
            "skipped": self.skipped,
            "error": self.error,
            "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in self.checks],
            "figures": self.figures,
        }


def wait_for(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.5) -> bool:
    """Poll ``predicate`` until it holds (True) or ``timeout_s`` passes (False)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)


def seeded_gaps(rng: random.Random, count: int, low_s: float, high_s: float) -> list[float]:
    """``count`` waits drawn uniformly from [low_s, high_s]: the seeded moments of the faults."""
    return [round(rng.uniform(low_s, high_s), 2) for _ in range(count)]


def movielens_stream(path: Path, clicks: int, prefix: str = "u") -> tuple[list[Item], list[Click]]:
    """The catalog and the first ``clicks`` MovieLens ratings in time order, user ids prefixed.

    The prefix keeps a user id from equalling an item id (both are small integers in
    MovieLens), so "the user's id is in no row of any table" (``Audit.rows_mentioning``) cannot
    be fooled by a movie with the same number.
    """
    data = load_movielens(path)
    chosen = data.clicks[:clicks]
    if len(chosen) < clicks:
        raise ValueError(f"{path} has {len(data.clicks)} ratings, fewer than the {clicks} asked for")
    return data.items, [c.model_copy(update={"user_id": f"{prefix}{c.user_id}"}) for c in chosen]


@dataclass(frozen=True)
class Seen:
    """One record as the outside consumer saw it: when (monotonic and wall clock) and its value."""

    at: float
    wall_ms: int
    key: str | None
    value: dict[str, Any]


class TopicLog:
    """Every record of a topic from its beginning, read by a background thread.

    This is the outside observer of a scenario: it sees what a client of streamrec would see,
    with arrival times, and never joins the worker's consumer group.
    """

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self._records: list[Seen] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"topic-log-{topic}", daemon=True)
        # A short fetch wait: arrival times are figures here, and librdkafka's default 500 ms
        # would add up to a quarter of a second per record on Tansu.
        self._reader = TopicReader(bootstrap, topic, from_beginning=True, fetch_wait_max_ms=10)

    def start(self) -> TopicLog:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                for key, value, _raw in self._reader.records(0.5):
                    if value is not None:
                        seen = Seen(time.monotonic(), int(time.time() * 1000), key, value)
                        with self._lock:
                            self._records.append(seen)
                    if self._stop.is_set():
                        break
        finally:
            self._reader.close()

    def records(self) -> list[Seen]:
        with self._lock:
            return list(self._records)

    def values(self) -> list[dict[str, Any]]:
        return [seen.value for seen in self.records()]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(15)

    def __enter__(self) -> TopicLog:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


Outgoing = tuple[str, str, BaseModel]  # topic, key, contract value


class PacedPublisher:
    """Publishes a list of records at a fixed rate from a background thread, with a progress bar.

    ``sent`` counts records handed to the producer so far (a kill's figures say how far the
    stream had come); ``sent_at`` holds the moment of every record not on ``clicks`` (deletions),
    so a check can compare what happened before and after them. The producer is flushed at the
    end and a delivery error is kept in ``error``: a scenario never counts a record the broker
    did not take as published.
    """

    def __init__(
        self,
        bootstrap: str,
        records: Sequence[Outgoing],
        rate: float,
        description: str,
        progress: bool,
        *,
        live: bool = False,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"PacedPublisher rate must be > 0 records/s, got {rate}")
        self.bootstrap = bootstrap
        self.records = list(records)
        self.rate = rate
        self.description = description
        self.progress = progress
        # live: every click is stamped with the time it is sent, so the worker sees live traffic
        # (the live lane), not a replay of old events.
        self.live = live
        self._halt = threading.Event()
        self.sent = 0
        self.sent_at: dict[int, float] = {}
        self.error: BaseException | None = None
        self.finished_at: float | None = None
        self._thread = threading.Thread(target=self._run, name="chaos-publisher", daemon=True)

    def start(self) -> PacedPublisher:
        self._thread.start()
        return self

    def _run(self) -> None:
        started = time.monotonic()
        try:
            with (
                ContractProducer(self.bootstrap) as producer,
                tqdm(
                    total=len(self.records), desc=self.description, unit="rec", disable=not self.progress
                ) as bar,
            ):
                for index, (topic, key, value) in enumerate(self.records):
                    delay = started + index / self.rate - time.monotonic()
                    if delay > 0 and self._halt.wait(delay):
                        break
                    if self._halt.is_set():
                        break
                    if self.live and isinstance(value, Click):
                        value = value.model_copy(update={"ts": int(time.time() * 1000)})
                    producer.send(topic, key, value)
                    if topic != CLICKS:
                        self.sent_at[index] = time.monotonic()
                    self.sent = index + 1
                    if index % 200 == 0:
                        bar.update(index + 1 - bar.n)
                bar.update(self.sent - bar.n)
        except BaseException as exc:  # kept for the verdict; the thread must not die silently
            self.error = exc
        finally:
            self.finished_at = time.monotonic()

    def running(self) -> bool:
        return self._thread.is_alive()

    def halt(self) -> None:
        """Stop sending after the current record (the rest of the list is never published)."""
        self._halt.set()

    def join(self, timeout_s: float | None = None) -> None:
        self._thread.join(timeout_s)


class ChaosStack:
    """The expensive, shared part of the stack: the tiny model and one tritonserver.

    Triton serves the adapter sets under ``adapters_data_dir / "adapters"``: a worker that
    wants its sets served (the trainer scenario) lives in ``adapters_data_dir``.
    """

    def __init__(self, work: Path, model_dir: Path | None = None) -> None:
        self.work = work.resolve()
        self.work.mkdir(parents=True, exist_ok=True)
        self._model_dir = model_dir
        self.adapters_data_dir = self.work / "served-worker"
        self.triton: TritonServer | None = None

    @property
    def model_dir(self) -> Path:
        """The tiny random-weight Llama (``models.tiny``): made once, loads and trains in seconds."""
        if self._model_dir is None:
            from models.tiny import save_tiny_llama  # imports torch: only when needed

            target = self.work / "tiny-llama"
            self._model_dir = target if (target / "config.json").is_file() else save_tiny_llama(target)
        return self._model_dir

    def start_triton(self) -> float:
        """Start (or restart, on the same ports) tritonserver; returns the seconds until ready."""
        started = time.monotonic()
        if self.triton is None:
            http, grpc, metrics = free_ports(3)
            self.triton = TritonServer(
                TritonConfig(
                    model_repository=DEFAULT_MODEL_REPOSITORY,
                    data_dir=self.work / "triton",
                    http_port=http,
                    grpc_port=grpc,
                    metrics_port=metrics,
                    model_path=self.model_dir,
                    log_path=self.work / "tritonserver.log",
                    extra_env={
                        ENV_ADAPTERS_DIR: str(self.adapters_data_dir / "adapters"),
                        ENV_SUMMARIZER_MODEL_PATH: "",
                    },
                    models=("recommender",),
                )
            )
        self.triton.start()
        self.triton.wait_ready(timeout_s=TRITON_READY_S, models=("recommender",))
        return time.monotonic() - started

    def stop_triton(self) -> None:
        if self.triton is not None:
            self.triton.stop()

    @property
    def triton_grpc(self) -> str:
        if self.triton is None:
            raise RuntimeError("start_triton() first")
        return self.triton.grpc_url

    @contextlib.contextmanager
    def broker(self, name: str, port: int | None = None) -> Iterator[TansuBroker]:
        """A fresh broker with every topic created: the scenario's records and nobody else's."""
        broker = TansuBroker("127.0.0.1", port or free_port(), log_path=self.work / f"tansu-{name}.log")
        broker.start()
        try:
            ensure_topics(broker.bootstrap, PARTITIONS)
            yield broker
        finally:
            broker.stop()

    def worker(self, name: str, bootstrap: str, data_dir: Path | None = None, **env: str) -> WorkerProcess:
        """A worker handle (not started) with its own data dir and consumer group."""
        return WorkerProcess(
            data_dir if data_dir is not None else self.work / name,
            bootstrap,
            self.triton_grpc,
            env={**WORKER_ENV, "STREAMREC_APP_ID": f"chaos-{name}", **env},
            partitions=PARTITIONS,
            log_path=self.work / f"{name}-worker.log",
        )

    def close(self) -> None:
        self.stop_triton()

    def __enter__(self) -> ChaosStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def last_by_user(values: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The newest value per ``user_id`` in arrival order (a user's final recommendation)."""
    last: dict[str, dict[str, Any]] = {}
    for value in values:
        last[str(value.get("user_id"))] = value
    return last
