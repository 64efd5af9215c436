"""SIGKILL the worker in the middle of a replay: after a restart nothing is lost or doubled."""

from __future__ import annotations

import threading
import time
from typing import Any

from streams.contracts import CLICKS
from streams.kafka import ContractProducer
from tests.e2e.helpers import clicks
from tests.fixtures.kafka import WorkerProcess, wait_until


def test_sigkill_mid_replay_loses_nothing_and_duplicates_nothing(
    worker: WorkerProcess, kafka_broker: Any, uid: str
) -> None:
    # 200 users x 15 clicks; most items are not in the catalog (they must still be stored).
    events = [
        c
        for u in range(200)
        for c in clicks(f"{uid}-c{u}", [f"{uid}-unknown-{(u + k) % 97}" for k in range(15)])
    ]
    events.sort(key=lambda c: c.ts or 0)
    baseline = worker.interactions()

    def replay() -> None:
        with ContractProducer(kafka_broker.bootstrap) as producer:
            producer.send_all(CLICKS, ((e.user_id, e) for e in events), rate=1500)

    publisher = threading.Thread(target=replay)
    publisher.start()
    # Kill once the worker has stored part of the replay, i.e. genuinely mid-stream.
    wait_until(lambda: worker.interactions() > baseline + 300, timeout_s=60, what="partial ingestion")
    at_kill = worker.interactions() - baseline
    worker.kill()
    publisher.join()
    assert 0 < at_kill < len(events), f"the kill must land mid-replay, stored {at_kill}/{len(events)}"

    worker.start()
    wait_until(
        lambda: worker.interactions() >= baseline + len(events),
        timeout_s=120,
        what=f"{len(events)} stored interactions",
    )
    time.sleep(2)  # anything still in flight would show up as an overshoot
    assert worker.interactions() == baseline + len(events)

    worker.stop()
    store = worker.open_store()
    try:
        assert store.audit.distinct_event_ids() == store.audit.interaction_count()
        ours = store.audit.query(
            "SELECT count(*) FROM interactions WHERE starts_with(user_id, ?)", [f"{uid}-c"]
        )
        assert ours == [(len(events),)]
    finally:
        store.close()
    worker.start()
