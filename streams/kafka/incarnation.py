"""Which incarnation of a topic we read: Kafka topic ids.

Offsets mean nothing across a topic's deletion and re-creation: offset 10 of the new topic is
a different record from offset 10 of the old one. The worker stores its offsets in DuckDB, so
if it did not notice the re-creation it would skip every new record below the old offsets as
"already applied" (lost silently). This happens whenever the embedded broker restarts (Tansu
keeps topics in memory only) and on a production cluster when someone recreates a topic.

Kafka gives every topic a random id at creation (KIP-516, Kafka 2.8+; Tansu does too), so
comparing the id recorded with the offsets against the broker's names the incarnation exactly,
however many records the new topic already holds. An empty or all-zero id means "unknown" (an
older broker); callers fall back to comparing end offsets.
"""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import KafkaException, TopicCollection
from confluent_kafka.admin import AdminClient

from streams.kafka_security import PLAINTEXT, KafkaSecurity, librdkafka_config

__all__ = ["topic_ids"]

_UNKNOWN_IDS = {"", "AAAAAAAAAAAAAAAAAAAAAA"}  # the null UUID, base64 as librdkafka prints it


def _admin(bootstrap: str, security: KafkaSecurity) -> AdminClient:
    return AdminClient(
        {**librdkafka_config(security), "bootstrap.servers": bootstrap, "socket.timeout.ms": 10_000}
    )


def topic_ids(
    bootstrap: str, topics: Iterable[str], timeout_s: float = 10.0, *, security: KafkaSecurity = PLAINTEXT
) -> dict[str, str | None]:
    """The id of each existing topic (None where the broker gives none); absent topics are left out.

    Raises ``KafkaException`` when the broker cannot be asked (the caller decides whether that
    is fatal: at startup it is, for the running watch it is "try again later").
    """
    names = list(topics)
    admin = _admin(bootstrap, security)  # must outlive the futures: its destruction fails them
    futures = admin.describe_topics(TopicCollection(names), request_timeout=timeout_s)
    ids: dict[str, str | None] = {}
    for name, future in futures.items():
        try:
            description = future.result(timeout=timeout_s)
        except KafkaException as exc:
            if "UNKNOWN_TOPIC" in str(exc):
                continue
            raise
        raw = str(description.topic_id) if description.topic_id is not None else ""
        ids[name] = None if raw in _UNKNOWN_IDS else raw
    return ids
