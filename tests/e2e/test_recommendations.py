"""Clicks in, ranked recommendations out: real broker, real Triton (tiny model), real worker."""

from __future__ import annotations

from typing import Any

from streams.contracts import RECOMMENDATIONS, Recommendation
from streams.kafka import TopicReader
from tests.e2e.helpers import catalog, clicks, publish
from tests.fixtures.kafka import WorkerProcess


def test_each_user_gets_a_valid_llm_ranking(worker: WorkerProcess, kafka_broker: Any, uid: str) -> None:
    """Three users click; each gets one top-10 list answering their last click, from the LLM."""
    items = catalog(uid, 30)
    users = {f"{uid}-u{u}": [items[(u * 7 + k) % 30].item_id for k in range(6)] for u in range(3)}
    events = [c for user, seen in users.items() for c in clicks(user, seen)]
    last_event = {user: f"{user}-e{len(seen) - 1}" for user, seen in users.items()}

    with TopicReader(kafka_broker.bootstrap, RECOMMENDATIONS) as reader:
        publish(kafka_broker.bootstrap, items, events)
        received = reader.wait_for(
            lambda r: last_event.get(r.get("user_id")) == r.get("trigger_event_id"),
            timeout_s=120,
            count=len(users),
        )
    assert {r["user_id"] for r in received} == set(users)
    for raw in received:
        rec = Recommendation.model_validate(raw)  # schema, rank 1..K, scores descending
        assert len(rec.items) == 10
        assert rec.fallback is False
        assert rec.model.name.startswith("recommender")
        assert all(0.0 < item.score < 1.0 for item in rec.items), "P(Yes) must be a probability"
        recommended = {item.item_id for item in rec.items}
        assert not recommended & set(users[rec.user_id]), "already-seen items must not be recommended"
        assert rec.latency_ms > 0


def test_burst_of_clicks_coalesces_into_few_scoring_calls(
    worker: WorkerProcess, kafka_broker: Any, uid: str
) -> None:
    """40 clicks from one user in a burst yield far fewer than 40 recommendations ("latest wins"),
    and the last one answers the last click."""
    items = catalog(uid, 60)
    user = f"{uid}-burst"
    events = clicks(user, [item.item_id for item in items[:40]])
    with TopicReader(kafka_broker.bootstrap, RECOMMENDATIONS) as reader:
        publish(kafka_broker.bootstrap, items, events)
        seen: list[dict[str, Any]] = []
        for _key, value, _raw in reader.records(120):
            if value is not None and value.get("user_id") == user:
                seen.append(value)
                if value["trigger_event_id"] == events[-1].event_id:
                    break
    assert seen and seen[-1]["trigger_event_id"] == events[-1].event_id
    assert len(seen) < len(events) // 2, f"{len(seen)} recommendations for a burst of {len(events)} clicks"
