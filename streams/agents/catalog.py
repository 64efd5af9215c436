"""The catalog agent: ``items`` -> DuckDB ``items`` (upsert, newest value wins).

Same durability discipline as ingestion: offsets are stored with the upsert, rejected records
go to ``dead-letters`` before the batch counts as done.
"""

from __future__ import annotations

import faust

from streams import metrics
from streams.agents.runtime import Runtime, Topics
from streams.contracts import ITEMS, Item
from streams.delivery import ChannelReader, durably, micro_batches, send_dead_letters, split_batch
from streams.store import ItemRow

__all__ = ["register", "handle_item_batch"]


async def handle_item_batch(runtime: Runtime, topics: Topics, events: list[faust.EventT]) -> int:
    """Apply one micro-batch of catalog records; returns the number of items upserted."""
    messages = await runtime.admit(ITEMS, events)  # a partition ahead of DuckDB is sought back
    applied = await runtime.offsets_for(ITEMS)
    batch = split_batch(messages, Item, applied, runtime.settings.max_event_bytes)
    if batch.dead:
        letters = batch.dead
        await durably("dead letters", lambda: send_dead_letters(topics.dead_letters, letters))
    if not batch.next_offsets:
        return 0
    rows = [
        ItemRow(
            item_id=a.value.item_id,
            title=a.value.title,
            description=a.value.description,
            categories=tuple(a.value.categories),
            attributes=a.value.attributes,
        )
        for a in batch.accepted
    ]
    next_offsets = batch.next_offsets
    upserted = await durably(
        "item batch",
        lambda: runtime.store.run(lambda store: store.ingest.items(ITEMS, rows, next_offsets)),
    )
    applied.update(next_offsets)
    metrics.ITEMS_UPSERTED.inc(upserted)
    return upserted


def register(app: faust.App, runtime: Runtime, topics: Topics) -> None:
    settings = runtime.settings

    @app.agent(topics.items, name="streamrec.catalog")
    async def catalog(stream: faust.StreamT) -> None:
        async for events in micro_batches(
            ChannelReader(stream), settings.batch_max_events, settings.batch_within_s, settings.batch_quiet_s
        ):
            await handle_item_batch(runtime, topics, events)
