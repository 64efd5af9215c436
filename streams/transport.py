"""The worker's Faust transport: aiokafka, with a configurable fetch long-poll.

Why: faust-streaming builds the worker's ``AIOKafkaConsumer`` with ``fetch_max_wait_ms=1500``
and no setting to change it. A broker that does not answer a pending fetch as soon as data
arrives then holds every fresh click for up to that long. The embedded Tansu broker is one:
measured with an outside consumer, librdkafka's 500 ms default added ~250 ms to every other
message, 10 ms added 7 ms. On the streamrec latency benchmark the 0.5 users/s p50 went from
1.54 s to 1.26 s with a 10 ms wait. Apache Kafka answers a fetch when ``fetch_min_bytes`` (1)
is reached, so there a short wait only costs a few idle fetch requests per second.

The second change: where a partition starts after an assignment. Faust seeks every assigned
partition to the group's committed offset. For the ingest topics DuckDB, not Kafka, records
which records are applied (an offset is committed only after its batch is durable, so the
group may lag DuckDB, and a recreated topic or a lost data dir leaves the group *ahead* of
it). :func:`start_from` registers a callback that names the positions DuckDB holds; the
consumer seeks there right after Faust's own seek, before the fetcher resumes. Without it, a
group ahead of DuckDB would only be noticed when a record arrives
(``streams.delivery.gaps``), and never if none does.

The transport is registered under the URL scheme ``streamrec-kafka`` (Faust's transport
registry is a public mapping), so ``create_app`` uses ``streamrec-kafka://host:port``. The
wait is per app (:func:`configure`), from ``STREAMREC_FETCH_MAX_WAIT_MS``.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiokafka
import faust
from faust.transport import drivers
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

__all__ = [
    "DEFAULT_FETCH_MAX_WAIT_MS",
    "SCHEME",
    "StartPositions",
    "Transport",
    "configure",
    "fetch_max_wait_ms",
    "start_from",
]

log = logging.getLogger(__name__)

# Given the assigned partitions, the offset each of some of them must start from.
StartPositions = Callable[[frozenset[TP]], Awaitable[Mapping[TP, int]]]

SCHEME = "streamrec-kafka"
DEFAULT_FETCH_MAX_WAIT_MS = 100

_WAITS: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
_STARTS: weakref.WeakKeyDictionary[Any, StartPositions] = weakref.WeakKeyDictionary()


def configure(app: faust.App, fetch_max_wait_ms: int) -> None:
    """Set the fetch long-poll of ``app``'s worker consumer (before the app starts)."""
    if isinstance(fetch_max_wait_ms, bool) or not isinstance(fetch_max_wait_ms, int) or fetch_max_wait_ms < 0:
        raise ValueError(f"fetch_max_wait_ms must be a non-negative integer, got {fetch_max_wait_ms!r}")
    _WAITS[app] = fetch_max_wait_ms


def start_from(app: faust.App, positions: StartPositions) -> None:
    """Seek assigned partitions to ``positions(assigned)`` after every rebalance of ``app``."""
    _STARTS[app] = positions


def fetch_max_wait_ms(app: Any) -> int:
    """The wait configured for ``app``, or :data:`DEFAULT_FETCH_MAX_WAIT_MS`."""
    return _WAITS.get(app, DEFAULT_FETCH_MAX_WAIT_MS)


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka keeps the constructor argument here and hands it to its Fetcher in start(),
        # which has not run yet (pinned aiokafka; tests/streams/test_transport.py checks it).
        consumer._fetch_max_wait_ms = fetch_max_wait_ms(self.app)
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def perform_seek(self) -> None:
        """Faust's seek to the committed offsets, then to the positions :func:`start_from` names."""
        await super().perform_seek()
        positions = _STARTS.get(self.app)
        if positions is None:
            return
        assigned = frozenset(self.assignment())
        committed = self._committed_offset
        for tp, offset in (await positions(assigned)).items():
            if tp not in assigned:
                continue
            if committed.get(tp) is not None and committed[tp] != offset:
                log.info(
                    "%s[%d]: starting at stored offset %d, not the group's %d",
                    tp.topic,
                    tp.partition,
                    offset,
                    committed[tp],
                )
            await self.seek(tp, offset)


class Transport(faust_aiokafka.Transport):
    """Faust's aiokafka transport with :class:`_Consumer`; producers are unchanged."""

    Consumer = _Consumer


drivers.TRANSPORTS[SCHEME] = f"{__name__}:Transport"
