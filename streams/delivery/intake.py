"""Micro-batches from a Faust stream that keep filling while the previous batch is stored.

Why not ``Stream.take_events``: it stops the stream while the caller works on a batch (its
buffer processor waits until the batch is handed back), so Faust's per-record work and ours
run strictly one after the other. For the ingest agents "ours" is mostly the DuckDB
transaction, which runs on the store thread and releases the GIL: during it the event loop is
free, and here it spends that time moving the next records through Faust into the next batch.

The delivery promise is unchanged: a batch's events are acknowledged only when the caller asks
for the next batch, i.e. after it finished (and durably stored) this one, and never when the
caller raised. At most ``2 x max_events`` more records wait behind the batch in flight; then
the stream waits (backpressure), so memory stays bounded. A crash loses only unacknowledged
records, which Kafka redelivers and the stored offsets deduplicate.

Uses ``Stream.add_processor`` (public) and ``Stream._enable_passive`` (private, the same hook
``take_events`` uses); faust-streaming is pinned. ``tests/streams/delivery/test_intake.py``
checks the acks and the bound against a stand-in stream; every e2e test runs it on a real
Faust stream and Kafka.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import faust

__all__ = ["micro_batches"]


async def micro_batches(
    stream: faust.StreamT, max_events: int, within_s: float
) -> AsyncIterator[list[faust.EventT]]:
    """Batches of at most ``max_events`` events, each yielded once full or ``within_s`` after
    the previous one was handed back, whichever comes first (see the module doc)."""
    if max_events <= 0:
        raise ValueError(f"max_events must be positive, got {max_events}")
    if within_s <= 0:
        raise ValueError(f"within_s must be positive, got {within_s}")
    source = cast(faust.Stream, stream)
    waiting: list[faust.EventT] = []
    full = asyncio.Event()  # a whole batch is waiting: hand it out without waiting within_s
    room = asyncio.Event()  # fewer than 2 x max_events wait: the stream may go on
    room.set()

    async def collect(value: Any) -> Any:
        event = source.current_event
        if event is None:
            raise RuntimeError("a stream processor ran without a current event")
        waiting.append(event)
        if len(waiting) >= max_events:
            full.set()
        if len(waiting) >= 2 * max_events:
            room.clear()
            await source.wait(room)  # type: ignore[arg-type]  # mode accepts asyncio.Event
        return value

    acks_before = source.enable_acks
    source.enable_acks = False  # acknowledged below, only after the caller is done
    source.add_processor(collect)
    source._enable_passive(cast(faust.ChannelT, aiter(source.channel)))
    try:
        while not source.should_stop:
            if not full.is_set():
                await source.wait_for_stopped(full, timeout=within_s)  # type: ignore[arg-type]
            if not waiting:
                continue
            batch = waiting[:max_events]
            del waiting[:max_events]
            if len(waiting) < max_events:
                full.clear()
            room.set()
            yield batch
            # Only reached when the caller asks for the next batch: this one is done.
            for event in batch:
                await source.ack(event)
    finally:
        source.enable_acks = acks_before
        source._processors.remove(collect)
