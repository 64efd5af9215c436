"""Short-lived Kafka clients (confluent-kafka): topic admin, a paced producer, a topic reader.

Used by the CLI, the replay, the supervisor, benchmarks and tests, i.e. processes that should
not join a consumer group or start Faust. The worker's own consuming and publishing is Faust's,
in ``streams.delivery``. Import from here: ``from streams.kafka import TopicReader``.

Each client takes ``security`` (a ``streams.kafka_security.KafkaSecurity``, PLAINTEXT by default;
callers pass ``settings.kafka_security``), so SASL and TLS are configured the same way as the
worker's Faust app.
"""

from streams.kafka.admin import end_offsets, ensure_topics
from streams.kafka.incarnation import topic_ids
from streams.kafka.producer import ContractProducer
from streams.kafka.reader import Record, TopicReader

__all__ = [
    "ContractProducer",
    "Record",
    "TopicReader",
    "end_offsets",
    "ensure_topics",
    "topic_ids",
]
