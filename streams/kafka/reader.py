"""Read a whole topic without a consumer group: for ``tail``, the demo and the tests.

Assigning every partition explicitly (instead of subscribing) avoids the group join, which
takes seconds, and avoids the classic mistake of reading only partition 0 of a multi-partition
topic.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, TopicPartition

from streams.kafka_security import PLAINTEXT, KafkaSecurity, librdkafka_config

__all__ = ["TopicReader", "Record"]

Record = dict[str, Any]


class TopicReader:
    """Yields ``(key, value-as-JSON-or-None, raw)`` from all partitions of a topic."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        *,
        from_beginning: bool = False,
        security: KafkaSecurity = PLAINTEXT,
        fetch_wait_max_ms: int | None = None,
    ) -> None:
        """``fetch_wait_max_ms``: how long the broker may hold a fetch open waiting for data
        (librdkafka's default 500 ms). An observer that times arrivals sets it low: on Tansu the
        default adds up to a quarter of a second per record and makes a reader fall behind."""
        self.topic = topic
        config: dict[str, object] = {
            **librdkafka_config(security),
            "bootstrap.servers": bootstrap,
            "group.id": f"streamrec-reader-{time.monotonic_ns()}",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
        if fetch_wait_max_ms is not None:
            if fetch_wait_max_ms < 0:
                raise ValueError(f"TopicReader fetch_wait_max_ms must be >= 0, got {fetch_wait_max_ms}")
            config["fetch.wait.max.ms"] = fetch_wait_max_ms
        self._consumer = Consumer(config)
        metadata = self._consumer.list_topics(topic, timeout=10).topics[topic]
        if metadata.error is not None:
            raise RuntimeError(f"topic {topic!r}: {metadata.error}")
        start = OFFSET_BEGINNING if from_beginning else OFFSET_END
        partitions = [TopicPartition(topic, p, start) for p in metadata.partitions]
        if not from_beginning:
            # Resolve "end" now, so records produced after this constructor returns are seen.
            partitions = [
                TopicPartition(topic, tp.partition, self._consumer.get_watermark_offsets(tp, timeout=10)[1])
                for tp in partitions
            ]
        self._consumer.assign(partitions)

    def records(self, timeout_s: float) -> Iterator[tuple[str | None, Record | None, bytes]]:
        """Everything that arrives within ``timeout_s`` seconds."""
        deadline = time.monotonic() + timeout_s
        while (remaining := deadline - time.monotonic()) > 0:
            message = self._consumer.poll(min(remaining, 0.5))
            if message is None or message.error() is not None:
                continue
            raw = message.value() or b""
            raw_key = message.key()
            key = raw_key.decode(errors="replace") if raw_key else None
            try:
                value = json.loads(raw)
            except ValueError:
                value = None
            yield key, value if isinstance(value, dict) else None, raw

    def wait_for(self, predicate: Callable[[Record], bool], timeout_s: float, count: int = 1) -> list[Record]:
        """Collect values matching ``predicate`` until ``count`` arrived or time ran out."""
        found: list[Record] = []
        for _key, value, _raw in self.records(timeout_s):
            if value is not None and predicate(value):
                found.append(value)
                if len(found) >= count:
                    break
        return found

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> TopicReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
