"""Malformed records land in dead-letters with a reason; the worker keeps serving."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from streams.contracts import CLICKS, DEAD_LETTERS, DELETIONS, ITEMS, RECOMMENDATIONS
from streams.kafka import ContractProducer, TopicReader
from tests.e2e.helpers import catalog, clicks, publish
from tests.fixtures.kafka import WorkerProcess


def _click(**fields: Any) -> bytes:
    base: dict[str, Any] = {"schema_version": 1, "user_id": "u", "item_id": "i", "event_type": "click"}
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not ...}).encode()


# (topic, value, a word the reason must contain)
BAD: dict[str, tuple[str, bytes, str]] = {
    "not-json": (CLICKS, b"{this is not json", "not JSON"),
    "not-utf8": (CLICKS, b"\xff\xfe\x00garbage", "not JSON"),
    "array": (CLICKS, b"[1, 2, 3]", "not a JSON object"),
    "missing-user": (CLICKS, _click(user_id=...), "missing field: user_id"),
    "ts-string": (CLICKS, _click(ts="yesterday"), "ts"),
    "user-int": (CLICKS, _click(user_id=42), "user_id"),
    "unknown-type": (CLICKS, _click(event_type="purchase"), "unknown event_type"),
    "rating-missing": (CLICKS, _click(event_type="rating"), "rating"),
    "version-2": (CLICKS, _click(schema_version=2), "unknown schema_version"),
    "no-version": (CLICKS, _click(schema_version=...), "schema_version"),
    "oversized": (CLICKS, _click(item_id="x" * 100, padding="p" * 70_000), "oversized"),
    "item-no-title": (
        ITEMS,
        json.dumps({"schema_version": 1, "item_id": "i"}).encode(),
        "missing field: title",
    ),
    "deletion-no-user": (
        DELETIONS,
        json.dumps({"schema_version": 1, "request_id": "r", "requested_at": 1}).encode(),
        "missing field: user_id",
    ),
}


def _raw(letter: dict[str, Any]) -> bytes:
    """The original record value a dead letter carries."""
    if letter.get("value_encoding") == "base64":
        return base64.b64decode(letter["value"])
    return str(letter.get("value", "")).encode()


def test_bad_events_are_dead_lettered_and_the_worker_keeps_serving(
    worker: WorkerProcess, kafka_broker: Any, uid: str
) -> None:
    keys = {f"{uid}-{name}": spec for name, spec in BAD.items()}
    with (
        TopicReader(kafka_broker.bootstrap, DEAD_LETTERS) as dead,
        TopicReader(kafka_broker.bootstrap, RECOMMENDATIONS) as recs,
    ):
        with ContractProducer(kafka_broker.bootstrap) as producer:
            for key, (topic, value, _reason) in keys.items():
                producer.send(topic, key, value)
        # Matched by their raw value: a user-keyed topic's dead letter carries the salted user
        # key, never the raw key (the worker's salt is not known here).
        by_value = {spec[1]: key for key, spec in keys.items()}
        letters = dead.wait_for(lambda r: _raw(r) in by_value, timeout_s=60, count=len(keys))

        by_key = {by_value[_raw(letter)]: letter for letter in letters}
        assert set(by_key) == set(keys), f"missing dead letters: {set(keys) - set(by_key)}"
        for key, (topic, _value, reason) in keys.items():
            letter = by_key[key]
            assert letter["source_topic"] == topic
            assert reason in letter["error"], f"{key}: {letter['error']!r} lacks {reason!r}"
            assert letter["offset"] >= 0 and letter["partition"] >= 0
            if topic == ITEMS:
                assert letter["key"] == key  # item ids are not personal data
            else:
                assert re.fullmatch("[0-9a-f]{64}", letter["key"]), f"{key}: raw key in a dead letter"

        # The agent is still alive: the next good click is served.
        items = catalog(uid, 25)
        user = f"{uid}-after-bad"
        events = clicks(user, [items[0].item_id, items[1].item_id])
        publish(kafka_broker.bootstrap, items, events)
        answered = recs.wait_for(lambda r: r.get("trigger_event_id") == events[-1].event_id, timeout_s=90)
    assert answered, f"no recommendation after the bad corpus; worker log:\n{worker.log_tail()}"
    assert worker.proc is not None and worker.proc.poll() is None


def test_dead_letters_are_kept_seven_days_not_compacted(worker: WorkerProcess, kafka_broker: Any) -> None:
    """Dead letters may hold user ids in their raw values: the topic deletes them by age.

    7 days is also Kafka's default retention, but Tansu describes only the configs a topic was
    created with (``clicks`` describes none), so finding them proves streamrec set them.
    """
    from confluent_kafka.admin import AdminClient, ConfigResource

    from streams.contracts import DEAD_LETTER_RETENTION_MS

    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap})
    resource = ConfigResource(ConfigResource.Type.TOPIC, DEAD_LETTERS)
    configs = admin.describe_configs([resource])[resource].result(timeout=30)
    assert configs["retention.ms"].value == str(DEAD_LETTER_RETENTION_MS) == "604800000"
    assert configs["cleanup.policy"].value == "delete"
