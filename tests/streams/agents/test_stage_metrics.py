"""Each stage's code path moves its Prometheus metric: batch sizes, consumer lag, the served
adapter set, every deletion stage and the retrains the worker hears about.

Metrics live in the process-wide registry, so each test reads a value before and after.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from faust.types import TP
from prometheus_client import REGISTRY

from models.prompts import PromptConfig
from serving.adapters import set_current
from serving.client import ScoreRequest, ScoreResult
from streams.agents import Runtime, Topics
from streams.agents.clicks import handle_click_batch
from streams.agents.deletions import handle_deletion
from streams.agents.lag import observe_lag, partition_lag
from streams.agents.recommend import Recommender
from streams.agents.retrain_metrics import RetrainReports, observe_failed, retrain_kind
from streams.agents.served_set import ServedSetGuard, adapter_set_number
from streams.contracts import SCHEMA_VERSION, Deletion
from streams.settings import Settings
from streams.store import AsyncStore


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def stage(name: str) -> float:
    return value("streamrec_deletions_total", stage=name)


@dataclass
class FakeTopic:
    """Acknowledges every send at once and keeps what was sent."""

    sent: list[bytes] = field(default_factory=list)

    async def send(self, key: bytes | None = None, value: bytes = b"") -> asyncio.Future[None]:
        self.sent.append(value)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


@dataclass(frozen=True)
class Message:
    topic: str
    partition: int
    offset: int
    value: bytes
    key: bytes | None = None
    timestamp: float = 1_700_000_000.0


@dataclass(frozen=True)
class Event:
    message: Message


def fake_topics() -> Topics:
    return Topics(*(FakeTopic() for _ in range(6)))  # type: ignore[arg-type]


def write_set(root: Path, version: str, shards: int = 4) -> None:
    """A set without members (it may hold anyone) and without a recorded cut."""
    (root / version).mkdir(parents=True)
    (root / version / "manifest.json").write_text(json.dumps({"format": 1, "shards": [{}] * shards}))


# -- ingest --------------------------------------------------------------------------------------


def test_a_stored_click_batch_observes_its_size(tmp_path: Path) -> None:
    clicks = [
        json.dumps({"schema_version": 1, "user_id": "u1", "item_id": f"i{n}", "event_type": "click"}).encode()
        for n in range(3)
    ]
    events = [Event(Message("clicks", 0, offset, raw)) for offset, raw in enumerate(clicks)]
    count, total = value("streamrec_ingest_batch_events_count"), value("streamrec_ingest_batch_events_sum")

    async def scenario() -> None:
        runtime = Runtime(settings=Settings(data_dir=tmp_path), store=AsyncStore(":memory:"))
        try:
            await handle_click_batch(runtime, fake_topics(), events)  # type: ignore[arg-type]
            await handle_click_batch(runtime, fake_topics(), events)  # type: ignore[arg-type]
        finally:
            runtime.store.close()

    asyncio.run(scenario())
    assert value("streamrec_ingest_batch_events_count") == count + 1, "a redelivered batch stores nothing"
    assert value("streamrec_ingest_batch_events_sum") == total + 3


def test_the_commit_time_moves_only_when_new_clicks_are_stored(tmp_path: Path) -> None:
    """A batch of new clicks stamps it; the same clicks again at later offsets (a producer's
    retry) store nothing and leave it."""
    raws = [
        json.dumps({"schema_version": 1, "user_id": "u1", "item_id": f"i{n}", "event_type": "click"}).encode()
        for n in range(3)
    ]
    first = [Event(Message("clicks", 0, offset, raw)) for offset, raw in enumerate(raws)]
    retried = [Event(Message("clicks", 0, 3 + offset, raw)) for offset, raw in enumerate(raws)]
    moved: list[float] = []

    async def scenario() -> None:
        runtime = Runtime(settings=Settings(data_dir=tmp_path), store=AsyncStore(":memory:"))
        try:
            for events in (first, retried):
                before = time.time()
                await handle_click_batch(runtime, fake_topics(), events)  # type: ignore[arg-type]
                moved.append(value("streamrec_ingest_last_stored_timestamp_seconds") - before)
        finally:
            runtime.store.close()

    asyncio.run(scenario())
    assert moved[0] >= 0 and moved[1] < 0, moved


# -- consumer lag --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("end", "committed", "stored", "lag"),
    [
        (100, 40, None, 60),  # only Faust's commit is known (deletions: no stored offsets)
        (100, 40, 90, 10),  # DuckDB stored further than Faust committed
        (100, 95, 90, 5),
        (100, 100, None, 0),
        (99, 100, None, 0),  # a stale high watermark never makes the lag negative
        (None, 40, 50, None),  # no fetch answered yet
        (100, None, None, None),  # nothing processed or committed yet
    ],
)
def test_partition_lag(end: int | None, committed: int | None, stored: int | None, lag: int | None) -> None:
    assert partition_lag(end, committed, stored) == lag


@dataclass
class FakeConsumer:
    ends: dict[TP, int | None]

    def assignment(self) -> set[TP]:
        return set(self.ends)

    def highwater(self, tp: TP) -> int | None:
        return self.ends[tp]


def test_lag_is_set_per_assigned_partition_and_dropped_when_revoked() -> None:
    clicks0, clicks1, deletions0 = TP("clicks", 0), TP("clicks", 1), TP("deletions", 0)
    consumer = FakeConsumer({clicks0: 50, clicks1: 10, deletions0: 7})
    committed = {clicks0: 20, clicks1: 10, deletions0: 3}
    stored = {"clicks": {0: 45}}
    shown = observe_lag(consumer, committed, stored, set())
    assert shown == {("clicks", "0"), ("clicks", "1"), ("deletions", "0")}
    assert value("streamrec_consumer_lag_records", topic="clicks", partition="0") == 5
    assert value("streamrec_consumer_lag_records", topic="clicks", partition="1") == 0
    assert value("streamrec_consumer_lag_records", topic="deletions", partition="0") == 4

    consumer.ends = {clicks1: 12}  # a rebalance took partitions away
    assert observe_lag(consumer, committed, stored, shown) == {("clicks", "1")}
    assert (
        REGISTRY.get_sample_value("streamrec_consumer_lag_records", {"topic": "clicks", "partition": "0"})
        is None
    )
    assert value("streamrec_consumer_lag_records", topic="clicks", partition="1") == 2


# -- the adapter set served, and the deletion stages ---------------------------------------------


def test_adapter_set_numbers() -> None:
    assert adapter_set_number("v0003") == 3
    assert adapter_set_number("v12345") == 12345
    assert adapter_set_number("zero-shot") == 0
    assert adapter_set_number("latest") is None


class SetClient:
    """A Triton stand-in answering from one adapter set with every shard weighted."""

    def __init__(self, version: str, shards: int = 4) -> None:
        self.version, self.shards = version, shards

    async def score_many(self, requests: Any, excluded_shards: Any = ()) -> list[ScoreResult]:
        weights = tuple(0.0 if k in excluded_shards else 1.0 for k in range(self.shards))
        return [
            ScoreResult(np.full(len(r.candidates), 0.5, np.float32), "m", "1", 1.0, self.version, weights)
            for r in requests
        ]


def test_a_scoring_call_sets_the_served_set_and_counts_its_first_clean_answer(tmp_path: Path) -> None:
    async def scenario() -> None:
        settings = Settings(data_dir=tmp_path)
        write_set(settings.adapters_dir, "v0007")
        runtime = Runtime(settings=settings, store=AsyncStore(str(tmp_path / "db.duckdb")))
        # req-1 dirtied shard 0 of v0006; v0007 was retrained without it.
        await runtime.store.run(lambda s: s.dirty.mark([0], "v0006", "req-1"))
        await runtime.store.run(lambda s: s.dirty.retrained("v0007", s.dirty.high_water(), {}))
        recommender = Recommender(runtime, None, SetClient("v0007"), PromptConfig())  # type: ignore[arg-type]
        served = stage("served")
        for _ in range(2):
            assert await recommender.score_clean([ScoreRequest("ctx", ("a",), ())]) is not None
        assert value("streamrec_adapter_set_version") == 7
        assert stage("served") == served + 1, "served once, at the set's first answer"
        assert value("streamrec_dirty_shards") == 0
        runtime.store.close()

    asyncio.run(scenario())


def test_a_deletion_counts_received_purged_and_dirtied(tmp_path: Path) -> None:
    async def scenario() -> None:
        settings = Settings(data_dir=tmp_path)
        write_set(settings.adapters_dir, "v0001")
        set_current(settings.adapters_dir, "v0001")
        runtime = Runtime(settings=settings, store=AsyncStore(str(tmp_path / "db.duckdb")))
        before = {name: stage(name) for name in ("received", "purged", "dirtied")}
        request = Deletion(
            schema_version=SCHEMA_VERSION, request_id="req-9", user_id="ann", item_ids=None, requested_at=1
        )
        await handle_deletion(runtime, fake_topics(), None, request)
        await handle_deletion(runtime, fake_topics(), None, request)  # a repeat is only re-acknowledged
        assert {name: stage(name) - before[name] for name in before} == {
            "received": 1,
            "purged": 1,
            "dirtied": 1,
        }
        runtime.store.close()

    asyncio.run(scenario())


def test_a_set_found_holding_purged_data_counts_a_dirtied_stage(tmp_path: Path) -> None:
    async def scenario() -> None:
        settings = Settings(data_dir=tmp_path)
        runtime = Runtime(settings=settings, store=AsyncStore(str(tmp_path / "db.duckdb")))
        await runtime.store.run(lambda s: s.deletions.record("req-ann", "ann", None, 100))
        await runtime.store.run(lambda s: s.deletions.purge("req-ann", "ann", None, 100))
        write_set(settings.adapters_dir, "v0002")  # no recorded cut: it may hold ann
        dirtied = stage("dirtied")
        assert await ServedSetGuard(runtime).check("v0002") == 4
        assert stage("dirtied") == dirtied + 1, "one request, however many shards"
        runtime.store.close()

    asyncio.run(scenario())


# -- retrains, as the trainer reports them -------------------------------------------------------


def test_a_published_run_is_counted_once_with_its_duration() -> None:
    reports = RetrainReports()
    detail = {
        "kind": "deletion",
        "seconds": 93.0,
        "shards": [{"shard": 0, "retrained": False}, {"shard": 3, "retrained": True}],
    }
    runs = value("streamrec_retrains_total", kind="deletion", outcome="retrained")
    timed = value("streamrec_retrain_seconds_count", kind="deletion")
    took = value("streamrec_retrain_seconds_sum", kind="deletion")
    retrained = stage("retrained")
    assert reports.published("v0101", detail, requests=2)
    assert not reports.published("v0101", detail, requests=2), "a repeated report"
    assert value("streamrec_retrains_total", kind="deletion", outcome="retrained") == runs + 1
    assert value("streamrec_retrain_seconds_count", kind="deletion") == timed + 1
    assert value("streamrec_retrain_seconds_sum", kind="deletion") == took + 93.0
    assert stage("retrained") == retrained + 2


def test_a_refresh_that_kept_every_shard_is_unchanged_and_a_late_report_is_not_a_run() -> None:
    reports = RetrainReports()
    unchanged = value("streamrec_retrains_total", kind="refresh", outcome="unchanged")
    reports.published("v0201", {"kind": "refresh", "seconds": 4, "shards": [{"retrained": False}]}, 0)
    assert value("streamrec_retrains_total", kind="refresh", outcome="unchanged") == unchanged + 1
    timed = value("streamrec_retrain_seconds_count", kind="deletion")
    retrained = stage("retrained")
    assert reports.published("v0202", {"note": "reported after a restart"}, requests=1)
    assert value("streamrec_retrain_seconds_count", kind="deletion") == timed
    assert stage("retrained") == retrained + 1


def test_failed_runs_are_counted_and_kinds_are_a_closed_set() -> None:
    failed = value("streamrec_retrains_total", kind="refresh", outcome="failed")
    observe_failed("refresh")
    assert value("streamrec_retrains_total", kind="refresh", outcome="failed") == failed + 1
    assert retrain_kind("deletion") == "deletion"
    assert retrain_kind("user-42") is None, "an unknown kind never becomes a label value"
