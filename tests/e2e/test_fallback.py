"""Triton unreachable: the worker retries, then publishes a popularity ranking marked fallback."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from streams.contracts import RECOMMENDATIONS, Recommendation
from streams.kafka import TopicReader
from tests.e2e.helpers import catalog, clicks, publish
from tests.fixtures.kafka import WorkerProcess, free_port


def test_unreachable_triton_gives_a_fallback_ranking_and_no_crash(
    kafka_broker: Any, triton_server: Any, tmp_path: Path, uid: str
) -> None:
    # A second deployment (own consumer group and DuckDB) whose Triton address has no server.
    dead_triton = f"127.0.0.1:{free_port()}"
    worker = WorkerProcess(
        tmp_path / "fallback", kafka_broker.bootstrap, dead_triton, STREAMREC_APP_ID=f"fallback-{uid}"
    )
    worker.start()
    try:
        items = catalog(uid, 25)
        popular = [i.item_id for i in items[:3]]
        # Other users make items[0..2] popular; our user clicked something else.
        # Current timestamps: "recent" popularity is measured from the newest event stored.
        now = int(time.time() * 1000)
        crowd = [c for n in range(4) for c in clicks(f"{uid}-crowd{n}", popular, start_ts=now)]
        user = f"{uid}-lonely"
        mine = clicks(user, [items[10].item_id, items[11].item_id], start_ts=now)
        with TopicReader(kafka_broker.bootstrap, RECOMMENDATIONS) as recs:
            publish(kafka_broker.bootstrap, items, crowd + mine)
            # The session's main worker (Triton up) answers this user too, without fallback;
            # only the worker under test can publish a fallback answer.
            got = recs.wait_for(
                lambda r: r.get("trigger_event_id") == mine[-1].event_id and r.get("fallback") is True, 120
            )
        assert got, worker.log_tail()
        rec = Recommendation.model_validate(got[0])
        assert rec.fallback is True
        assert rec.model.name == "popularity"
        assert {i.item_id for i in rec.items[:3]} == set(popular), "the crowd's items rank first"
        assert worker.proc is not None and worker.proc.poll() is None, "the worker must survive"
        assert "scoring attempt 1 failed" in worker.log_tail(200_000)
    finally:
        worker.stop()
