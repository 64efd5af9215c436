"""Micro-batches from a Faust stream that keep filling while the previous batch is stored.

Why not ``Stream.take_events``: it stops the stream while the caller works on a batch (its
buffer processor waits until the batch is handed back), so Faust's per-record work and ours
run strictly one after the other. For the ingest agents "ours" is mostly the DuckDB
transaction, which runs on the store thread and releases the GIL: during it the event loop is
free, and here it spends that time moving the next records through Faust into the next batch.

When a batch is handed out: once it is full, once the stream has been quiet for ``quiet_s``
(nothing new arrived), or ``within_s`` after its first record arrived, whichever comes first.
The quiet rule is for live traffic: a user's clicks arrive in one fetch and then nothing, so
waiting out a fixed window (0.2 s, as ``take_events`` does, counted from whenever the loop
happened to start waiting) only adds latency; on 2026-12-07 it was about 0.1 s of a 1.04 s
click-to-recommendation p50. A replay keeps records coming, so its batches still grow to
``max_events`` or ``within_s``.

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
    stream: faust.StreamT, max_events: int, within_s: float, quiet_s: float | None = None
) -> AsyncIterator[list[faust.EventT]]:
    """Batches of at most ``max_events`` events, each yielded once full, once no record arrived
    for ``quiet_s`` (default: ``within_s``, i.e. no quiet rule), or ``within_s`` after its first
    record arrived, whichever comes first (see the module doc)."""
    if max_events <= 0:
        raise ValueError(f"max_events must be positive, got {max_events}")
    if within_s <= 0:
        raise ValueError(f"within_s must be positive, got {within_s}")
    quiet = within_s if quiet_s is None else quiet_s
    if quiet <= 0:
        raise ValueError(f"quiet_s must be positive, got {quiet_s}")
    source = cast(faust.Stream, stream)
    clock = asyncio.get_running_loop().time
    waiting: list[faust.EventT] = []
    first_at = 0.0  # when the oldest waiting record arrived (meaningful while waiting is not empty)
    last_at = 0.0  # when the newest one arrived
    arrived = asyncio.Event()  # something is waiting: the idle loop may start its clocks
    full = asyncio.Event()  # a whole batch is waiting: hand it out without waiting any longer
    room = asyncio.Event()  # fewer than 2 x max_events wait: the stream may go on
    room.set()

    async def collect(value: Any) -> Any:
        nonlocal first_at, last_at
        event = source.current_event
        if event is None:
            raise RuntimeError("a stream processor ran without a current event")
        last_at = clock()
        if not waiting:
            first_at = last_at
        waiting.append(event)
        arrived.set()
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
            if not waiting:
                arrived.clear()
                await source.wait_for_stopped(arrived, timeout=within_s)  # type: ignore[arg-type]
                continue
            if not full.is_set():
                delay = min(first_at + within_s, last_at + quiet) - clock()
                if delay > 0:
                    # Woken early only by a full batch; otherwise look again: a record that
                    # arrived meanwhile moved last_at, and the stream is not quiet yet.
                    await source.wait_for_stopped(full, timeout=delay)  # type: ignore[arg-type]
                    continue
            batch = waiting[:max_events]
            del waiting[:max_events]
            if len(waiting) < max_events:
                full.clear()
            if waiting:
                first_at = clock()  # the rest start a new batch, with a fresh window
            room.set()
            yield batch
            # Only reached when the caller asks for the next batch: this one is done.
            for event in batch:
                await source.ack(event)
    finally:
        source.enable_acks = acks_before
        source._processors.remove(collect)
