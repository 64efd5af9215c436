"""The ingest agent: ``clicks`` -> validated micro-batches -> DuckDB, exactly once in effect.

Per micro-batch (``streams.delivery.intake.micro_batches``):

1. Skip records below the offsets stored in DuckDB (already applied before a crash); seek a
   partition back whose first record lies beyond them (``streams.delivery.gaps``).
2. Validate the rest; rejected records go to ``dead-letters`` with a reason, and we wait for
   the broker's acknowledgement before going on, so no rejected record is lost either.
3. One DuckDB transaction stores the valid clicks, the offsets of *all* records of the batch
   and the users' "needs a fresh recommendation" marks.

Faust acknowledges the batch only when we ask for the next one, i.e. after step 3 committed.
Ingestion never calls the LLM: it only wakes the recommend task.
"""

from __future__ import annotations

import logging
import time

import faust

from streams import metrics
from streams.agents.runtime import Runtime, Topics
from streams.contracts import CLICKS, Click, derive_event_id
from streams.delivery import ChannelReader, durably, micro_batches, send_dead_letters, split_batch
from streams.store import ClickRow, IngestResult

__all__ = ["register", "handle_click_batch"]

log = logging.getLogger(__name__)


async def handle_click_batch(
    runtime: Runtime, topics: Topics, events: list[faust.EventT]
) -> IngestResult | None:
    """Apply one micro-batch; returns what was stored (None if everything was a redelivery)."""
    started = time.perf_counter()
    messages = await runtime.admit(CLICKS, events)  # a partition ahead of DuckDB is sought back
    applied = await runtime.offsets_for(CLICKS)
    batch = split_batch(messages, Click, applied, runtime.settings.max_event_bytes)
    if batch.dead:
        letters = await runtime.pseudonymous(batch.dead)  # clicks are keyed by user id
        await durably("dead letters", lambda: send_dead_letters(topics.dead_letters, letters))
    if not batch.next_offsets:
        return None
    rows: list[ClickRow] = []
    for accepted in batch.accepted:  # per record: positional fields, no lookups to spare
        click = accepted.value
        ts = click.ts if click.ts is not None else accepted.timestamp_ms
        rows.append(
            ClickRow(
                click.event_id or derive_event_id(click, ts),
                click.user_id,
                click.item_id,
                click.event_type,
                click.rating,
                ts,
                accepted.partition,
                accepted.offset,
            )
        )
    next_offsets = batch.next_offsets
    result = await durably(
        "click batch",
        lambda: runtime.store.run(lambda store: store.ingest.clicks(CLICKS, rows, next_offsets)),
    )
    applied.update(next_offsets)
    metrics.EVENTS_INGESTED.inc(result.inserted)
    if result.inserted:
        metrics.INGEST_LAST_STORED.set_to_current_time()
    metrics.EVENTS_BLOCKED.inc(result.blocked)
    metrics.EVENTS_DUPLICATE.inc(result.duplicates + batch.skipped)
    metrics.INGEST_BATCH_SECONDS.observe(time.perf_counter() - started)
    metrics.INGEST_BATCH_EVENTS.observe(len(events))
    log.debug(
        "clicks batch: %d records, %d stored, %d blocked, %d duplicate, %d dead, offsets %s",
        len(events),
        result.inserted,
        result.blocked,
        result.duplicates,
        len(batch.dead),
        next_offsets,
    )
    live_lag_ms = runtime.settings.live_lag_s * 1000
    wall_ms, now = time.time() * 1000, time.monotonic()
    hold = runtime.backfill_hold
    if rows and wall_ms - min(row.ts for row in rows) > live_lag_ms:
        hold.history_arrived(now)  # replayed history: hold backfill
    if result.inserted:
        # Wake the recommender only if it has something new to serve: a live click, or a
        # backfill it may serve now. During a replay, waking it for every batch of history
        # made it read the queue for nothing, on the store thread this batch's successors
        # need. Its one-second poll still finds the backfill once the hold lets go.
        if wall_ms - max(row.ts for row in rows) <= live_lag_ms or hold.admits_backfill(now):
            runtime.wake_recommender()
        runtime.wake_summarizer()
    return result


def register(app: faust.App, runtime: Runtime, topics: Topics) -> None:
    settings = runtime.settings

    @app.agent(topics.clicks, name="streamrec.ingest-clicks")
    async def ingest_clicks(stream: faust.StreamT) -> None:
        async for events in micro_batches(
            ChannelReader(stream), settings.batch_max_events, settings.batch_within_s, settings.batch_quiet_s
        ):
            await handle_click_batch(runtime, topics, events)
