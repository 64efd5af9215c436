"""Deletion is a promise: purged means no row left, replays cannot resurrect, others intact."""

from __future__ import annotations

import time
from typing import Any

from streams.contracts import DELETION_STATUS, RECOMMENDATIONS
from streams.kafka import TopicReader
from tests.e2e.helpers import catalog, clicks, deletion, publish, request_deletion
from tests.fixtures.kafka import WorkerProcess


def _await_recs(reader: TopicReader, triggers: set[str], timeout_s: float = 90) -> None:
    got = reader.wait_for(lambda r: r.get("trigger_event_id") in triggers, timeout_s, count=len(triggers))
    assert len(got) == len(triggers), f"expected recommendations for {triggers}, got {got}"


def test_forget_user_purges_every_row_and_survives_replay(
    worker: WorkerProcess, kafka_broker: Any, uid: str
) -> None:
    bootstrap = kafka_broker.bootstrap
    items = catalog(uid, 30)
    victim, bystander = f"{uid}-victim", f"{uid}-bystander"
    victim_events = clicks(victim, [i.item_id for i in items[:8]])
    bystander_events = clicks(bystander, [i.item_id for i in items[4:10]])

    with TopicReader(bootstrap, RECOMMENDATIONS) as recs:
        publish(bootstrap, items, victim_events + bystander_events)
        _await_recs(recs, {victim_events[-1].event_id, bystander_events[-1].event_id})

    request = deletion(f"{uid}-req", victim)
    with TopicReader(bootstrap, DELETION_STATUS) as statuses:
        request_deletion(bootstrap, request)
        stages = statuses.wait_for(lambda r: r.get("request_id") == request.request_id, 60, count=2)
        assert [s["stage"] for s in stages] == ["received", "purged"], stages
        assert "deleted 8 interaction" in stages[1]["detail"]
        # The same request again is harmless: it is only re-acknowledged.
        request_deletion(bootstrap, request)
        again = statuses.wait_for(lambda r: r.get("request_id") == request.request_id, 60)
        assert again and again[0]["stage"] == "purged" and "already purged" in again[0]["detail"]

    worker.stop()
    store = worker.open_store()
    try:
        assert store.audit.rows_mentioning(victim) == {}, "the victim's id must not remain in any table"
        for event in victim_events:
            assert store.audit.rows_mentioning(event.event_id or "") == {}
        assert store.audit.interaction_count(bystander) == len(bystander_events)
        assert store.deletions.get(request.request_id).stage == "purged"
    finally:
        store.close()
    worker.start()

    # Replay the victim's old events, then one genuinely new click (ts after the request).
    new_click = clicks(victim, [items[20].item_id], start_ts=int(time.time() * 1000) + 60_000)[0]
    new_click = new_click.model_copy(update={"event_id": f"{victim}-new"})
    with TopicReader(bootstrap, RECOMMENDATIONS) as recs:
        publish(bootstrap, events=victim_events + [new_click])
        # Same key, same partition, in order: once the new click is answered the replay is done.
        _await_recs(recs, {new_click.event_id or ""})

    worker.stop()
    store = worker.open_store()
    try:
        remaining = store.audit.query("SELECT event_id FROM interactions WHERE user_id = ?", [victim])
        assert remaining == [(new_click.event_id,)], "only the post-deletion click may exist"
        assert store.audit.interaction_count(bystander) == len(bystander_events)
    finally:
        store.close()
    worker.start()


def test_forget_some_items_keeps_the_rest(worker: WorkerProcess, kafka_broker: Any, uid: str) -> None:
    bootstrap = kafka_broker.bootstrap
    items = catalog(uid, 30)
    user = f"{uid}-partial"
    events = clicks(user, [i.item_id for i in items[:6]])
    forgotten = [items[1].item_id, items[3].item_id]
    with TopicReader(bootstrap, RECOMMENDATIONS) as recs:
        publish(bootstrap, items, events)
        _await_recs(recs, {events[-1].event_id or ""})

    request = deletion(f"{uid}-partial-req", user, item_ids=forgotten)
    with TopicReader(bootstrap, DELETION_STATUS) as statuses, TopicReader(bootstrap, RECOMMENDATIONS) as recs:
        request_deletion(bootstrap, request)
        stages = statuses.wait_for(lambda r: r.get("request_id") == request.request_id, 60, count=2)
        assert [s["stage"] for s in stages] == ["received", "purged"]
        # The remaining history changed, so the user is re-ranked without the forgotten items.
        rec = recs.wait_for(lambda r: r.get("trigger_event_id") == f"deletion:{request.request_id}", 90)
        assert rec, "a partial deletion must trigger a fresh recommendation"
        # Replaying the forgotten clicks must not bring them back.
        publish(bootstrap, events=[e for e in events if e.item_id in forgotten])
        marker = clicks(user, [items[25].item_id], start_ts=int(time.time() * 1000) + 60_000)[0]
        marker = marker.model_copy(update={"event_id": f"{user}-marker"})
        publish(bootstrap, events=[marker])
        assert recs.wait_for(lambda r: r.get("trigger_event_id") == marker.event_id, 90)

    worker.stop()
    store = worker.open_store()
    try:
        kept = {
            row[0] for row in store.audit.query("SELECT item_id FROM interactions WHERE user_id = ?", [user])
        }
        assert kept == {e.item_id for e in events if e.item_id not in forgotten} | {items[25].item_id}
    finally:
        store.close()
    worker.start()
