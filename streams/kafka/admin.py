"""Explicit topic creation and partition end offsets, with the confluent-kafka admin API.

Topics are created explicitly, with the partition count we mean, because auto-created topics
on Tansu get a broker-chosen partition count (and a reader that assumes one partition silently
misses data). Creation is idempotent, so both ``streamrec up`` and every worker start call it.
"""

from __future__ import annotations

import logging
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from streams.contracts import ALL_TOPICS, TOPIC_CONFIGS
from streams.exceptions import StartupError
from streams.kafka_security import PLAINTEXT, KafkaSecurity, librdkafka_config

__all__ = ["end_offsets", "ensure_topics"]

log = logging.getLogger(__name__)


def ensure_topics(
    bootstrap: str,
    partitions: int,
    replication_factor: int = 1,
    topics: tuple[str, ...] = ALL_TOPICS,
    timeout_s: float = 30.0,
    *,
    security: KafkaSecurity = PLAINTEXT,
) -> dict[str, int]:
    """Create missing topics; return the partition count of each topic.

    An existing topic with a different partition count is kept as is (changing it would
    re-key users onto other partitions) and logged, not silently "fixed".
    """
    admin = AdminClient(
        {**librdkafka_config(security), "bootstrap.servers": bootstrap, "socket.timeout.ms": 10_000}
    )
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            existing = admin.list_topics(timeout=10).topics
            break
        except KafkaException as exc:
            if time.monotonic() > deadline:
                raise StartupError(f"Kafka at {bootstrap} is not reachable: {exc}") from exc
            time.sleep(0.5)
    missing = [t for t in topics if t not in existing]
    if missing:
        futures = admin.create_topics(
            [
                NewTopic(
                    t,
                    num_partitions=partitions,
                    replication_factor=replication_factor,
                    config=TOPIC_CONFIGS.get(t, {}),
                )
                for t in missing
            ]
        )
        for topic, future in futures.items():
            try:
                future.result(timeout=timeout_s)
                log.info("created topic %s with %d partitions", topic, partitions)
            except KafkaException as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise StartupError(f"could not create topic {topic}: {exc}") from exc
    counts: dict[str, int] = {}
    deadline = time.monotonic() + timeout_s
    while True:
        metadata = admin.list_topics(timeout=10).topics
        counts = {t: len(metadata[t].partitions) for t in topics if t in metadata}
        if len(counts) == len(topics) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    for topic, count in counts.items():
        if count != partitions:
            log.warning("topic %s has %d partitions, configured %d; keeping it", topic, count, partitions)
    absent = [t for t in topics if t not in counts]
    if absent:
        raise StartupError(f"topics not visible after creation: {absent}")
    return counts


def end_offsets(
    bootstrap: str, topic: str, timeout_s: float = 10.0, *, security: KafkaSecurity = PLAINTEXT
) -> dict[int, int]:
    """High watermark per partition of ``topic`` (no consumer group involved)."""
    consumer = Consumer(
        {
            **librdkafka_config(security),
            "bootstrap.servers": bootstrap,
            "group.id": "streamrec-watermarks",
            "enable.auto.commit": False,
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return {}
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)[1]
            for p in metadata.partitions
        }
    finally:
        consumer.close()
