"""Read a Faust agent's events in bulk: everything already queued, in one step of the event loop.

Why not iterate the stream: Faust's stream iterator hands out one record per turn of the event
loop (it yields to the loop before every record) and runs each record through its processors
and, when the queue is empty, through a ``wait_first`` on several futures. On the ingest
benchmark that per-record machinery was the largest share of the worker's event-loop time, and
the worker batches anyway (``streams.delivery.intake``). So :class:`ChannelReader` takes what
the conductor has already put into the agent's channel queue, as a list, and does per record
only the bookkeeping of Faust's iterator (``faust/_cython/streams.pyx``'s ``StreamIterator``)
that delivery depends on:

1. skip a record fetched before the last rebalance (its generation is stale, or flow control
   is paused for one), acknowledging it as Faust does;
2. track the message as unacknowledged, so the consumer commits no offset past it until it is
   acknowledged (:meth:`ack_all`, called only after the batch is durably stored);
3. record when each partition last delivered an event to the stream
   (``Monitor.stream_inbound_time``, one clock reading per take): Faust's consumer reads it
   in its "stream is idle" check and would otherwise log false slow-processing errors.

It does not call the stream sensors per record (``on_message_in``, ``on_stream_event_in``
and their ``_out`` twins). Apart from the inbound time above, they only feed counters and
timings of Faust's in-process ``Monitor`` that nothing in streamrec reads (the worker's
Prometheus metrics count events, batches and lag). Dropping them made the worker ingest
10.7% more clicks per second (``python -m streams.bench.ingest_ab``, 8 rounds, every round
faster; ``CHANGELOG.md``). Faust's own ``Stream.ack`` never passed the sensor state back, so
the Monitor's per-event timings were not kept on this path before either.

The delivery promise is Faust's: nothing is acknowledged here except stale records, and a
record left unacknowledged is redelivered after a crash or a rebalance.

Uses private parts of ``faust.Stream`` (its channel's queue), as Faust's own
``take_events`` does; faust-streaming is pinned in ``pyproject.toml``. Every e2e test runs
this on a real Faust stream and Kafka, and would lose or duplicate clicks if it got acks wrong.
"""

from __future__ import annotations

from collections.abc import Iterable
from time import monotonic
from typing import Any, cast

import faust

__all__ = ["ChannelReader"]


class ChannelReader:
    """The events of one Faust agent stream, taken from its channel queue in bulk."""

    def __init__(self, stream: faust.StreamT) -> None:
        source = cast(faust.Stream, stream)
        channel = source.channel
        if not isinstance(channel, faust.ChannelT):
            kind = type(channel).__name__
            raise TypeError(f"a ChannelReader needs a stream over a Faust channel, got {kind}")
        self._stream = source
        self._queue: Any = channel.queue  # mode's ThrowableQueue: get/get_nowait raise thrown errors
        self._app: Any = source.app
        self._started_stream = False

    @property
    def should_stop(self) -> bool:
        return bool(self._stream.should_stop)

    async def start(self) -> None:
        """Start the stream service if nobody did (what iterating it would do)."""
        self._started_stream = bool(await self._stream.maybe_start())

    async def stop(self) -> None:
        """Undo :meth:`start`; the same end as a finished stream iteration."""
        stream = self._stream
        on_stop_iteration = getattr(stream.channel, "on_stop_iteration", None)
        if on_stop_iteration is not None:
            on_stop_iteration()
        if self._started_stream:
            await stream.stop()
            stream.service_reset()

    async def take(self, limit: int) -> list[faust.EventT]:
        """Wait for at least one event, then return it with up to ``limit - 1`` more that are
        already queued, without yielding to the event loop in between."""
        if limit <= 0:
            raise ValueError(f"limit must be positive, got {limit}")
        queue = self._queue
        taken: list[faust.EventT] = []
        while not taken:
            self._admit(await queue.get(), taken)
            while len(taken) < limit and not queue.empty():
                self._admit(queue.get_nowait(), taken)
        self._stream.events_total += len(taken)
        inbound = self._app.monitor.stream_inbound_time  # Faust's idle check reads it
        now = monotonic()  # the clock Faust's Monitor and consumer use for it
        for event in taken:
            inbound[event.message.tp] = now
        return taken

    def ack_all(self, events: Iterable[faust.EventT]) -> None:
        """Acknowledge events the caller is done with (``faust.Stream.ack``, without a
        coroutine per event): the consumer may then commit past them."""
        for event in events:
            event.ack()

    def _admit(self, item: Any, taken: list[faust.EventT]) -> None:
        if not isinstance(item, faust.EventT):  # a plain value sent to the channel: not ours
            raise TypeError(f"expected Faust events on an agent's channel, got {type(item).__name__}")
        app = self._app
        message = item.message
        if not app.flow_control.is_active() or message.generation_id != app.consumer_generation_id:
            self.ack_all((item,))  # fetched before a rebalance: Faust skips and acks it too
            return
        if message.topic in app.topics.acking_topics and not message.tracked:
            message.tracked = True
            app.consumer.unacked.add(message)
        taken.append(item)
