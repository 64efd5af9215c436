"""Never skip records silently: a consumer position beyond the stored offset is sought back.

The offsets in DuckDB say which records are applied; Kafka's committed offsets are only where
the consumer starts. Normally the first record a partition delivers is at or below the stored
next offset (a redelivery, skipped by ``split_batch``). If it lies *beyond* it, records between
were never applied, and storing the batch would move the stored offset over them for good:

* the topic was recreated and the old stored offsets were dropped (``Ingest.stale_partitions``),
  but the consumer group had already committed positions in the new topic;
* anything else that moved the group's offsets (a tool, an operator's reset to latest).

So the ingest agents hand each micro-batch to :class:`GapGuard` first. A partition whose first
record is beyond the stored offset is held back and the consumer is sought to the stored
offset. If after seeking the same gap comes back, the records in it cannot be read (retention
deleted them, or they are transaction markers): then the gap is accepted, with a warning and a
metric, instead of seeking forever.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from streams import metrics

__all__ = ["GapGuard", "Admitted", "PositionedMessage"]

log = logging.getLogger(__name__)


class PositionedMessage(Protocol):
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...


@dataclass
class Admitted:
    """The messages to apply now, and where to seek the partitions that were held back."""

    messages: list[PositionedMessage]
    rewinds: dict[int, int]  # partition -> the stored next offset to seek to


@dataclass
class GapGuard:
    """Remembers, per (topic, partition), the last gap it sought back over."""

    _sought: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)

    def admit(
        self, topic: str, messages: Iterable[PositionedMessage], applied: Mapping[int, int]
    ) -> Admitted:
        """Split a batch into messages to apply and partitions to seek back (see the module doc).

        ``applied`` maps partition -> next offset to apply; a partition without one starts at 0.
        """
        batch = list(messages)
        first: dict[int, int] = {}
        for message in batch:
            first.setdefault(message.partition, message.offset)
        held: set[int] = set()
        rewinds: dict[int, int] = {}
        for partition, offset in first.items():
            stored = applied.get(partition, 0)
            if offset <= stored:
                continue
            gap = (stored, offset)
            if self._sought.get((topic, partition)) == gap:
                log.warning(
                    "%s[%d]: offsets %d..%d cannot be read (deleted by retention, or transaction "
                    "markers); going on from %d",
                    topic,
                    partition,
                    stored,
                    offset - 1,
                    offset,
                )
                metrics.OFFSET_GAPS_ACCEPTED.labels(topic).inc()
                continue
            self._sought[(topic, partition)] = gap
            held.add(partition)
            rewinds[partition] = stored
        return Admitted([m for m in batch if m.partition not in held], rewinds)
