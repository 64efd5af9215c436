"""Consumer lag per partition: how many records of each assigned partition wait to be processed.

Lag is the partition's log end offset (the high watermark the consumer learns from every fetch
response) minus the next offset still to process. "Processed" is the furthest of two marks:

* the offset Faust last committed to Kafka for the group (every acknowledged record, for every
  topic; Faust commits every few seconds, so alone it overstates the lag a little), and
* the offsets stored in DuckDB with the micro-batch (``Runtime.applied_offsets``; clicks and
  items only), which are exactly "stored", what ``streamrec status`` reports as lag.

Everything read here is already in memory (no broker round trip), so refreshing the gauge every
few seconds costs nothing measurable. A partition that is revoked loses its series, so a
dashboard never shows the frozen lag of a partition this worker no longer owns.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Protocol

from faust.types import TP

from streams import metrics

__all__ = ["INTERVAL_S", "LagSource", "observe_lag", "partition_lag"]

log = logging.getLogger(__name__)

INTERVAL_S = 5.0  # the gauge's refresh period; Prometheus scrapes every 15-30 s by default


class LagSource(Protocol):
    """What the lag needs from a Faust consumer (``app.consumer``)."""

    def assignment(self) -> set[TP]: ...

    def highwater(self, tp: TP) -> int | None: ...


def partition_lag(end: int | None, committed: int | None, stored: int | None) -> int | None:
    """Records still to process, or None while the log end or any processed mark is unknown.

    ``committed`` and ``stored`` are next offsets to read (Kafka's convention), so a partition
    whose every record is processed has a lag of 0. Never negative: the high watermark of the
    last fetch response may trail a commit made since.
    """
    done = max((mark for mark in (committed, stored) if mark is not None), default=None)
    if end is None or done is None:
        return None
    return max(0, end - done)


def observe_lag(
    consumer: LagSource,
    committed: Mapping[TP, int | None],
    stored: Mapping[str, Mapping[int, int]],
    shown: set[tuple[str, str]],
) -> set[tuple[str, str]]:
    """Set ``streamrec_consumer_lag_records`` for each assigned partition; returns the labels set.

    ``committed`` is the consumer's last committed offset per partition (Faust keeps it in
    ``Consumer._committed_offset``, loaded from the group at assignment; there is no public
    accessor), ``stored`` is ``Runtime.applied_offsets`` (topic -> partition -> next offset to
    store) and ``shown`` what the previous call returned: series of partitions no longer
    assigned are removed.
    """
    now: set[tuple[str, str]] = set()
    for tp in consumer.assignment():
        lag = partition_lag(
            consumer.highwater(tp),
            committed.get(tp),
            stored.get(tp.topic, {}).get(tp.partition),
        )
        if lag is None:
            continue
        labels = (tp.topic, str(tp.partition))
        metrics.CONSUMER_LAG.labels(*labels).set(lag)
        now.add(labels)
    for labels in shown - now:
        metrics.CONSUMER_LAG.remove(*labels)
    return now
