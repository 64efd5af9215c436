"""The worker's ``/metrics/`` through a real run: clicks, a recommendation and a deletion move
every stage's metric, the consumer lag comes from the live Faust consumer, and no user id,
item id or request id appears anywhere on the page."""

from __future__ import annotations

import re
import urllib.request
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.contracts import DELETION_STATUS, RECOMMENDATIONS
from streams.kafka import TopicReader
from tests.e2e.helpers import catalog, clicks, deletion, publish, request_deletion
from tests.fixtures.kafka import WorkerProcess, wait_until

pytestmark = pytest.mark.e2e


def scrape(worker: WorkerProcess) -> str:
    with urllib.request.urlopen(f"{worker.url}/metrics/", timeout=10) as response:
        return str(response.read().decode())


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [
        (dict(s.labels), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    ]


def test_every_stage_shows_on_the_metrics_page_without_any_id(
    worker: WorkerProcess, kafka_broker: Any, uid: str
) -> None:
    bootstrap = kafka_broker.bootstrap
    items = catalog(uid, 20)
    user = f"{uid}-metrics"
    events = clicks(user, [i.item_id for i in items[:6]])
    with TopicReader(bootstrap, RECOMMENDATIONS) as recs:
        publish(bootstrap, items, events)
        got = recs.wait_for(lambda r: r.get("trigger_event_id") == events[-1].event_id, 120)
        assert got, "a recommendation for the user"
    request = deletion(f"{uid}-req", user)
    with TopicReader(bootstrap, DELETION_STATUS) as statuses:
        request_deletion(bootstrap, request)
        statuses.wait_for(lambda r: r.get("request_id") == request.request_id, 60, count=2)

    # The lag timer runs every 5 s and Faust commits every few seconds: wait until every input
    # topic has a lag and the clicks partitions have caught up.
    def caught_up() -> bool:
        lags = samples(scrape(worker), "streamrec_consumer_lag_records")
        clicks_lag = [v for labels, v in lags if labels["topic"] == "clicks"]
        topics = {labels["topic"] for labels, _ in lags}
        return topics >= {"clicks", "items", "deletions"} and all(v == 0 for v in clicks_lag)

    wait_until(caught_up, timeout_s=30, what="a lag per input topic, the clicks one at 0")
    text = scrape(worker)
    lags = samples(text, "streamrec_consumer_lag_records")
    assert all(re.fullmatch(r"\d+", labels["partition"]) for labels, _ in lags)
    assert samples(text, "streamrec_ingest_batch_events_count")[0][1] >= 1
    assert sum(v for labels, v in samples(text, "streamrec_recommendations_total")) >= 1
    assert samples(text, "streamrec_adapter_set_version"), "the set served (0: zero-shot)"
    stages = {labels["stage"]: v for labels, v in samples(text, "streamrec_deletions_total")}
    assert stages["received"] >= 1 and stages["purged"] >= 1
    for secret in (user, request.request_id, items[0].item_id, events[0].event_id or ""):
        assert secret not in text, f"{secret!r} is on the metrics page"
