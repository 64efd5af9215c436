"""The deletion agent: "forget me" requests -> ledger -> purge -> ``deletion-status``.

Order matters, because Faust acknowledges a record even if the agent fails on it:

1. The request is written to the DuckDB ledger before anything else (``received``).
2. The purge deletes the rows, leaves a tombstone and closes the ledger entry in one
   transaction (``purged``).
3. On start-up, requests stuck at ``received`` (a crash between 1 and 2) are purged again.

Handling the same request twice is harmless: a purged request is only re-acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from functools import partial

import faust

from serving.adapters import shards_holding
from serving.exceptions import ServingError
from streams import metrics
from streams.agents.runtime import Runtime, Topics
from streams.agents.summarize import Summaries
from streams.contracts import SCHEMA_VERSION, Deletion, DeletionStatus
from streams.delivery import (
    ChannelReader,
    durably,
    micro_batches,
    send_and_wait,
    send_dead_letters,
    split_batch,
)
from streams.store import ShardsHolding

__all__ = ["register", "handle_deletion", "handle_deletion_batch"]

log = logging.getLogger(__name__)


def _status(request: Deletion, stage: str, detail: str) -> DeletionStatus:
    return DeletionStatus(
        schema_version=SCHEMA_VERSION,
        request_id=request.request_id,
        user_id=request.user_id,
        stage=stage,  # type: ignore[arg-type]
        detail=detail,
        at=int(time.time() * 1000),
    )


async def handle_deletion(
    runtime: Runtime, topics: Topics, summaries: Summaries | None, request: Deletion
) -> None:
    """Record, purge and report one request. Never raises for a bad request."""
    scope = "all interactions" if request.item_ids is None else f"{len(request.item_ids)} item(s)"
    record = await durably(
        "deletion ledger",
        lambda: runtime.store.run(
            lambda s: s.deletions.record(
                request.request_id, request.user_id, request.item_ids, request.requested_at
            )
        ),
    )
    if record.stage == "purged":
        await send_and_wait(
            topics.deletion_status,
            request.user_id,
            _status(request, "purged", f"already purged earlier ({record.rows_deleted} rows); nothing left"),
        )
        return
    await send_and_wait(
        topics.deletion_status, request.user_id, _status(request, "received", f"forgetting {scope}")
    )
    metrics.DELETIONS.labels(stage="received").inc()
    await _purge(runtime, topics, summaries, request)


async def handle_deletion_batch(
    runtime: Runtime, topics: Topics, summaries: Summaries | None, events: list[faust.EventT]
) -> int:
    """Validate a micro-batch of requests, dead-letter the malformed, handle the rest in order.

    Deletions are idempotent by ``request_id``, so no offset bookkeeping is needed. Returns
    the number of valid requests handled.
    """
    batch = split_batch((e.message for e in events), Deletion, {}, runtime.settings.max_event_bytes)
    if batch.dead:
        letters = await runtime.pseudonymous(batch.dead)  # deletions are keyed by user id
        await durably("dead letters", partial(send_dead_letters, topics.dead_letters, letters))
    for accepted in batch.accepted:
        await handle_deletion(runtime, topics, summaries, accepted.value)
    return len(batch.accepted)


async def _purge(runtime: Runtime, topics: Topics, summaries: Summaries | None, request: Deletion) -> None:
    if summaries is not None:
        # Keep the background summarizer off this user until the chain is rebuilt.
        summaries.claimed.add(request.user_id)
    try:
        try:
            holding = await _shards_holding(runtime, request.user_id)
            result = await runtime.store.run(
                lambda s: s.deletions.purge(
                    request.request_id, request.user_id, request.item_ids, request.requested_at, holding
                )
            )
        except Exception as exc:  # the ledger keeps it at 'received'; start-up retries it
            log.exception("purge of request %s failed", request.request_id)
            metrics.DELETIONS.labels(stage="failed").inc()
            await send_and_wait(
                topics.deletion_status,
                request.user_id,
                _status(request, "failed", f"purge failed, will retry on restart: {exc}"),
            )
            return
        detail = (
            f"deleted {result.rows_deleted} interaction(s); events with ts <= "
            f"{result.deleted_through} will not be stored again"
        )
        if result.summaries_invalidated:
            detail += f"; {result.summaries_invalidated} summary version(s) derived from them deleted"
        if holding is not None and result.shards_dirtied:
            shards = ",".join(str(k) for k in result.shards_dirtied)
            detail += (
                f"; adapter shard(s) {shards} of set {holding.adapter_set} marked dirty: "
                "not used for any recommendation until retrained without the data"
            )
        if request.item_ids is not None and summaries is not None and result.summaries_invalidated:
            detail += "; " + await _rebuild(summaries, request.user_id)
        metrics.DELETIONS.labels(stage="purged").inc()
        if result.shards_dirtied:
            metrics.DELETIONS.labels(stage="dirtied").inc()
        await send_and_wait(topics.deletion_status, request.user_id, _status(request, "purged", detail))
    finally:
        if summaries is not None:
            summaries.claimed.discard(request.user_id)


async def _shards_holding(runtime: Runtime, user_id: str) -> ShardsHolding | None:
    """The served set's shards with samples of the user (its ``members`` file), if a set is served.

    A whole-user deletion dirties the shard that holds the user. So does an item-level one: a
    user's samples (negatives, the target cap, the held-out target) depend on all of their
    events, so any change to them changes that shard's training data.
    """
    key = await runtime.store.run(lambda s: s.user_key(user_id))
    found = await asyncio.to_thread(shards_holding, runtime.settings.adapters_dir, key)
    return None if found is None else ShardsHolding(found[0], found[1])


async def _rebuild(summaries: Summaries, user_id: str) -> str:
    """Rebuild the chain from the retained interactions, block by block, before `purged`."""
    try:
        written = await summaries.rebuild(user_id)
    except ServingError as exc:
        log.warning("summary rebuild deferred: %s", exc)
        return f"summary rebuild deferred to the background summarizer ({exc})"
    return f"chain rebuilt from scratch: {written} summary version(s) from the remaining interactions"


def register(app: faust.App, runtime: Runtime, topics: Topics, summaries: Summaries | None) -> None:
    settings = runtime.settings

    @app.agent(topics.deletions, name="streamrec.deletions")
    async def deletions(stream: faust.StreamT) -> None:
        async for events in micro_batches(
            ChannelReader(stream), 100, settings.batch_within_s, settings.batch_quiet_s
        ):
            await handle_deletion_batch(runtime, topics, summaries, events)

    @app.task
    async def resume_unfinished_deletions() -> None:
        """Finish purges that a crash interrupted after the ledger write."""
        unfinished = await runtime.store.run(lambda s: s.deletions.unfinished())
        for request_id, user_id, item_ids, requested_at in unfinished:
            log.warning("resuming unfinished deletion %s", request_id)
            request = Deletion(
                schema_version=SCHEMA_VERSION,
                request_id=request_id,
                user_id=user_id,
                item_ids=item_ids,
                requested_at=requested_at,
            )
            await _purge(runtime, topics, summaries, request)
