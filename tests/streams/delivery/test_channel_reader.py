"""``ChannelReader`` on real Faust objects (app, topic channel, stream, events), no broker.

The reader replaces Faust's per-record stream iteration with its own bookkeeping, so these
tests pin that bookkeeping: what Faust's iterator would skip, track and acknowledge, the reader
skips, tracks and acknowledges too. The e2e tests run it against Kafka.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import faust
import pytest
from faust.types.tuples import ConsumerMessage

from streams.delivery.channel_reader import ChannelReader

Scenario = Callable[[faust.App, faust.ChannelT, ChannelReader], Awaitable[None]]


def run(scenario: Scenario) -> None:
    async def main() -> None:
        # The broker is never contacted: nothing here starts the consumer.
        app = faust.App("channel-reader-test", broker="kafka://127.0.0.1:9", store="memory://")
        topic = app.topic("clicks", value_serializer="raw")
        app.topics.add(topic)
        await app.topics._update_indices()  # what the conductor does on subscribing: acking
        channel = topic.clone(is_iterator=True)  # what an agent's stream reads
        stream = app.stream(channel)
        app.flow_control.resume()
        await scenario(app, stream.channel, ChannelReader(stream))

    asyncio.run(main())


def event(app: faust.App, offset: int, generation: int | None = None) -> faust.EventT:
    gen = app.consumer_generation_id if generation is None else generation
    message = ConsumerMessage("clicks", 0, offset, 0.0, 1, [], b"k", b"v", None, generation_id=gen)
    return faust.Event(app, b"k", b"v", [], message)


async def put(channel: faust.ChannelT, *events: Any) -> None:
    for item in events:
        await channel.queue.put(item)


def test_takes_everything_queued_in_order_up_to_the_limit() -> None:
    async def scenario(app: faust.App, channel: faust.ChannelT, reader: ChannelReader) -> None:
        await put(channel, *(event(app, n) for n in range(5)))
        first = await reader.take(3)
        assert [e.message.offset for e in first] == [0, 1, 2]
        assert channel.queue.qsize() == 2  # the rest stay queued for the next take
        second = await reader.take(10)
        assert [e.message.offset for e in second] == [3, 4]

    run(scenario)


def test_records_from_before_a_rebalance_are_skipped_and_acknowledged() -> None:
    async def scenario(app: faust.App, channel: faust.ChannelT, reader: ChannelReader) -> None:
        stale = event(app, 1, generation=app.consumer_generation_id - 1)
        await put(channel, event(app, 0), stale, event(app, 2))
        taken = await reader.take(10)
        assert [e.message.offset for e in taken] == [0, 2]
        assert stale.message.acked  # Faust's iterator acks what it skips, so the lag drains

    run(scenario)


def test_taken_records_stay_unacknowledged_until_ack_all() -> None:
    async def scenario(app: faust.App, channel: faust.ChannelT, reader: ChannelReader) -> None:
        await put(channel, event(app, 0), event(app, 1))
        taken = await reader.take(10)
        messages = [e.message for e in taken]
        # Tracked as in flight: the consumer commits no offset past an unacked message.
        assert all(m.tracked and m in app.consumer.unacked for m in messages)
        assert not any(m.acked for m in messages)
        reader.ack_all(taken)
        assert all(m.acked and m not in app.consumer.unacked for m in messages)

    run(scenario)


def test_take_waits_for_the_first_record() -> None:
    async def scenario(app: faust.App, channel: faust.ChannelT, reader: ChannelReader) -> None:
        pending = asyncio.ensure_future(reader.take(10))
        await asyncio.sleep(0.05)
        assert not pending.done()
        await put(channel, event(app, 7))
        taken = await asyncio.wait_for(pending, timeout=5)
        assert [e.message.offset for e in taken] == [7]

    run(scenario)


def test_an_error_thrown_into_the_channel_reaches_the_reader() -> None:
    async def scenario(app: faust.App, channel: faust.ChannelT, reader: ChannelReader) -> None:
        await channel.throw(RuntimeError("decode failed upstream"))
        with pytest.raises(RuntimeError, match="decode failed upstream"):
            await reader.take(10)

    run(scenario)


def test_a_plain_value_on_the_channel_is_refused() -> None:
    async def scenario(app: faust.App, channel: faust.ChannelT, reader: ChannelReader) -> None:
        await put(channel, "not an event")
        with pytest.raises(TypeError, match="expected Faust events"):
            await reader.take(10)

    run(scenario)


def test_a_non_positive_limit_is_refused() -> None:
    async def scenario(app: faust.App, channel: faust.ChannelT, reader: ChannelReader) -> None:
        with pytest.raises(ValueError, match="limit must be positive"):
            await reader.take(0)

    run(scenario)


def test_a_take_tells_fausts_idle_check_that_the_partition_delivered() -> None:
    # The reader skips Faust's per-record sensors, but not the one value Faust's consumer
    # reads: without it, a partition with lag looks idle and Faust logs slow-processing errors.
    async def scenario(app: faust.App, channel: faust.ChannelT, reader: ChannelReader) -> None:
        inbound = app.monitor.stream_inbound_time
        tp = event(app, 0).message.tp
        assert tp not in inbound
        before = time.monotonic()
        await put(channel, event(app, 0), event(app, 1))
        await reader.take(10)
        assert before <= inbound[tp] <= time.monotonic()

    run(scenario)
