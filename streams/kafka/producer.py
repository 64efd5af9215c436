"""A small, paced Kafka producer for the CLI (replay, forget) and tests.

confluent-kafka rather than Faust: these are short-lived command-line processes that should
not join consumer groups or start a web server. Delivery errors are collected and raised, so a
replay never reports success for records the broker did not take.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from types import TracebackType

from confluent_kafka import KafkaError, Message, Producer
from pydantic import BaseModel
from tqdm import tqdm

from streams.exceptions import StreamrecError
from streams.kafka_security import PLAINTEXT, KafkaSecurity, librdkafka_config

__all__ = ["ContractProducer"]


class ContractProducer:
    """Publishes contract values as JSON, keyed, optionally at a fixed rate."""

    def __init__(self, bootstrap: str, *, security: KafkaSecurity = PLAINTEXT) -> None:
        self._producer = Producer(
            {
                **librdkafka_config(security),
                "bootstrap.servers": bootstrap,
                "acks": "all",
                "linger.ms": 5,
                "enable.idempotence": False,
            }
        )
        self._errors: list[str] = []
        self.delivered = 0

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._errors.append(f"{message.topic()}: {error}")
        else:
            self.delivered += 1

    def send(self, topic: str, key: str | None, value: BaseModel | bytes) -> None:
        payload = value if isinstance(value, bytes) else value.model_dump_json(exclude_none=True).encode()
        while True:
            try:
                self._producer.produce(topic, key=key, value=payload, on_delivery=self._on_delivery)
                break
            except BufferError:  # local queue full: let librdkafka drain it
                self._producer.poll(0.1)
        self._producer.poll(0)

    def send_all(
        self,
        topic: str,
        records: Iterable[tuple[str | None, BaseModel | bytes]],
        *,
        rate: float = 0.0,
        total: int | None = None,
        progress: bool = False,
        description: str = "",
    ) -> int:
        """Send records, at most ``rate`` per second (0 = as fast as possible)."""
        started = time.monotonic()
        sent = 0
        for key, value in tqdm(records, total=total, disable=not progress, desc=description, unit="msg"):
            if rate > 0:
                due = started + sent / rate
                delay = due - time.monotonic()
                if delay > 0:
                    self._producer.poll(0)
                    time.sleep(delay)
            self.send(topic, key, value)
            sent += 1
        return sent

    def flush(self, timeout_s: float = 60.0) -> None:
        remaining = self._producer.flush(timeout_s)
        if remaining:
            raise StreamrecError(f"{remaining} record(s) not delivered within {timeout_s:.0f}s")
        if self._errors:
            raise StreamrecError(f"{len(self._errors)} delivery error(s), first: {self._errors[0]}")

    def __enter__(self) -> ContractProducer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.flush()
