"""A user who clicks now is answered before the backlog of a bulk replay (the two lanes).

A dedicated broker and worker (the shared Triton) ingests a replay of
20,000 historic clicks from 2,000 users. Their event times are years old, so every one of those
users waits in the backfill lane. Then a new user clicks with the current time. With one queue,
first come first served, that user would be answered after all 2,000; with the live lane they
are answered after at most the calls already in flight. The test counts how many backlog users
were answered before the live one, which is structural, not a timing assertion.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from streams.contracts import CLICKS, RECOMMENDATIONS, SCHEMA_VERSION, Click
from streams.kafka import ContractProducer, TopicReader, ensure_topics
from streams.local import TansuBroker
from tests.e2e.helpers import catalog, publish
from tests.fixtures.kafka import PARTITIONS, WorkerProcess, free_port, wait_until

BACKLOG_USERS = 2_000
CLICKS_PER_USER = 10
BATCH_USERS = 4


@pytest.fixture
def own_broker(tmp_path: Any) -> Any:
    """A broker of this test's own: its 20,000-click replay must not land in the shared worker's
    queue (every worker consumes the whole ``clicks`` topic), where it would delay other tests."""
    broker = TansuBroker("127.0.0.1", free_port(), log_path=tmp_path / "tansu.log")
    broker.start()
    ensure_topics(broker.bootstrap, PARTITIONS)
    yield broker
    broker.stop()


@pytest.fixture
def lane_worker(own_broker: Any, triton_server: Any, tmp_path: Any) -> Any:
    process = WorkerProcess(
        tmp_path / "lanes",
        own_broker.bootstrap,
        triton_server.grpc_url,
        STREAMREC_SUMMARY_BLOCK="0",
        STREAMREC_SCORE_BATCH_USERS=str(BATCH_USERS),
    )
    process.start()
    yield process
    if process.proc is not None:
        process.stop()


def test_a_live_click_jumps_the_replay_backlog(lane_worker: WorkerProcess, own_broker: Any, uid: str) -> None:
    items = catalog(uid, 50)
    publish(own_broker.bootstrap, items)
    history_ts = 1_000_000_000_000  # 2001: replayed history, far behind the wall clock
    events = [
        Click(
            schema_version=SCHEMA_VERSION,
            event_id=f"{uid}-b{u}-{n}",
            user_id=f"{uid}-b{u}",
            item_id=items[(u + 3 * n) % len(items)].item_id,
            event_type="click",
            ts=history_ts + (u * CLICKS_PER_USER + n) * 1000,
        )
        for n in range(CLICKS_PER_USER)
        for u in range(BACKLOG_USERS)
    ]
    live_user = f"{uid}-live"
    with TopicReader(own_broker.bootstrap, RECOMMENDATIONS) as reader:
        with ContractProducer(own_broker.bootstrap) as producer:
            producer.send_all(CLICKS, ((e.user_id, e) for e in events))
        wait_until(
            lambda: lane_worker.interactions() >= len(events),
            timeout_s=180,
            what=f"{len(events)} stored clicks",
        )
        now_ms = int(time.time() * 1000)
        live_click = Click(
            schema_version=SCHEMA_VERSION,
            event_id=f"{uid}-live-0",
            user_id=live_user,
            item_id=items[0].item_id,
            event_type="click",
            ts=now_ms,
        )
        publish(own_broker.bootstrap, events=[live_click])
        answered_before: set[str] = set()  # backlog users answered before the live click was sent
        answered_after = 0  # backlog answers generated between the live click and its answer
        live_answer: dict[str, Any] | None = None
        for _key, value, _raw in reader.records(120):
            if value is None:
                continue
            user = str(value.get("user_id", ""))
            if user == live_user:
                live_answer = value
                break
            if user.startswith(f"{uid}-b"):
                if int(value["generated_at"]) < now_ms:
                    answered_before.add(user)
                else:
                    answered_after += 1
    assert live_answer is not None, "the live user got no recommendation"
    assert live_answer["fallback"] is False
    waiting = BACKLOG_USERS - len(answered_before)
    assert waiting > 200, f"the backlog was nearly gone ({waiting} left) before the live click: no test"
    # First come, first served would answer all the waiting backlog users first. The live lane
    # lets only the calls that start before the click is ingested (0.1 s micro-batches) go first.
    assert answered_after <= 4 * BATCH_USERS, (
        f"{answered_after} of {waiting} waiting backlog users were answered before the live one"
    )
