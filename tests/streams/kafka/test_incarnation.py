"""Topic ids against the real (Tansu) broker: what topic re-creation detection rests on."""

from __future__ import annotations

import uuid

from confluent_kafka.admin import AdminClient

from streams.kafka import ensure_topics, topic_ids
from streams.local import TansuBroker


def _name() -> str:
    return f"incarnation-{uuid.uuid4().hex[:10]}"


def test_a_recreated_topic_has_a_new_id(kafka_broker: TansuBroker) -> None:
    topic = _name()
    ensure_topics(kafka_broker.bootstrap, 2, topics=(topic,))
    first = topic_ids(kafka_broker.bootstrap, [topic, "no-such-topic-" + topic])
    assert set(first) == {topic}  # a missing topic is left out, not an error
    assert first[topic]
    assert topic_ids(kafka_broker.bootstrap, [topic]) == first  # stable while the topic lives

    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap})
    for future in admin.delete_topics([topic]).values():
        future.result(timeout=10)
    ensure_topics(kafka_broker.bootstrap, 2, topics=(topic,))
    second = topic_ids(kafka_broker.bootstrap, [topic])
    assert second[topic] and second[topic] != first[topic]
