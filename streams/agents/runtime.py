"""What every agent of one worker shares: settings, the store thread, topics, offsets, wake-ups.

The topics are declared here with raw (bytes) serialisers on purpose: agents validate values
themselves, so a malformed record becomes a dead letter with a reason instead of a
deserialisation error that Faust would log and skip.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import faust
from faust.types import TP

from streams import metrics
from streams.agents.lanes import BackfillHold
from streams.contracts import (
    CLICKS,
    DEAD_LETTERS,
    DELETION_STATUS,
    DELETIONS,
    ITEMS,
    RECOMMENDATIONS,
    DeadLetter,
)
from streams.delivery import GapGuard
from streams.settings import Settings
from streams.store import AsyncStore, Store

__all__ = ["INGEST_TOPICS", "Runtime", "Topics", "declare_topics"]

log = logging.getLogger(__name__)

# The topics whose applied offsets DuckDB stores with the data (table consumer_offsets); the
# deletion agent is idempotent per request id instead.
INGEST_TOPICS: tuple[str, ...] = (CLICKS, ITEMS)


@dataclass(frozen=True)
class Topics:
    """The worker's Faust topic handles, one per contract topic."""

    clicks: faust.TopicT
    items: faust.TopicT
    recommendations: faust.TopicT
    deletions: faust.TopicT
    deletion_status: faust.TopicT
    dead_letters: faust.TopicT


def _topic(app: faust.App, name: str, partitions: int) -> faust.TopicT:
    return app.topic(
        name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=partitions,
    )


def declare_topics(app: faust.App, partitions: int) -> Topics:
    return Topics(
        clicks=_topic(app, CLICKS, partitions),
        items=_topic(app, ITEMS, partitions),
        recommendations=_topic(app, RECOMMENDATIONS, partitions),
        deletions=_topic(app, DELETIONS, partitions),
        deletion_status=_topic(app, DELETION_STATUS, partitions),
        dead_letters=_topic(app, DEAD_LETTERS, partitions),
    )


@dataclass
class Runtime:
    """Everything the agents of one worker share."""

    settings: Settings
    store: AsyncStore
    # Next offset to apply per topic and partition, loaded from DuckDB once per topic.
    applied_offsets: dict[str, dict[int, int]] = field(default_factory=dict)
    # Kafka topic id of each stored-offset topic when the worker started (streams.worker);
    # streams.agents.topic_watch fail-stops the worker when the broker's changes.
    topic_ids: dict[str, str] = field(default_factory=dict)
    # Ingest batches pass the gap guard first (streams.delivery.gaps); ``seek`` moves the
    # consumer of (topic, partition) to an offset (set by streams.app; None without a consumer,
    # in which case gaps are accepted).
    gaps: GapGuard = field(default_factory=GapGuard)
    seek: Callable[[str, int, int], Awaitable[None]] | None = None
    recommend_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    # Holds the backfill lane while replayed history arrives (fed by the clicks agent).
    backfill_hold: BackfillHold = field(init=False)
    summary_wakeup: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.backfill_hold = BackfillHold(self.settings.backfill_quiet_s, self.settings.backfill_hold_max_s)

    async def offsets_for(self, topic: str) -> dict[int, int]:
        if topic not in self.applied_offsets:
            self.applied_offsets[topic] = await self.store.run(lambda s: s.ingest.committed_offsets(topic))
        return self.applied_offsets[topic]

    async def start_positions(self, assigned: frozenset[TP]) -> dict[TP, int]:
        """Where each assigned ingest partition starts: DuckDB's next offset, 0 if none is stored.

        Called by the transport after every rebalance (``streams.transport.start_from``). The
        offsets are reloaded from DuckDB, not taken from the cache, since a partition may come
        back from another owner.
        """
        positions: dict[TP, int] = {}
        for topic in INGEST_TOPICS:
            partitions = [tp for tp in assigned if tp.topic == topic]
            if not partitions:
                continue
            stored = await self.store.run(functools.partial(_committed_offsets, topic=topic))
            self.applied_offsets[topic] = stored
            for tp in partitions:
                positions[tp] = stored.get(tp.partition, 0)
        return positions

    async def pseudonymous(self, letters: list[DeadLetter]) -> list[DeadLetter]:
        """Dead letters of a user-keyed topic with the salted user key in place of the raw key.

        The record value stays raw (it is the evidence a producer needs), but nothing else in a
        dead letter may repeat a user id: ``key`` becomes ``Store.user_key`` of it, the same
        pseudonym a ``retrained`` deletion status carries.
        """

        def salt(store: Store) -> list[DeadLetter]:
            return [
                letter
                if letter.key is None
                else letter.model_copy(update={"key": store.user_key(letter.key)})
                for letter in letters
            ]

        return await self.store.run(salt)

    async def admit(self, topic: str, events: list[faust.EventT]) -> list[Any]:
        """The messages of an ingest batch to apply now; partitions ahead of DuckDB are sought back."""
        admitted = self.gaps.admit(topic, (event.message for event in events), await self.offsets_for(topic))
        seek = self.seek
        if seek is None:  # no consumer to move (unit tests): apply as delivered
            return [event.message for event in events]
        for partition, offset in admitted.rewinds.items():
            metrics.OFFSET_REWINDS.labels(topic).inc()
            log.warning("%s[%d]: consumer ahead of stored offset %d; seeking back", topic, partition, offset)
            try:
                await seek(topic, partition, offset)
            except Exception:  # revoked meanwhile: the new owner starts from its own offsets
                log.exception("could not seek %s[%d] to %d", topic, partition, offset)
        return admitted.messages

    def wake_recommender(self) -> None:
        self.recommend_wakeup.set()

    def wake_summarizer(self) -> None:
        self.summary_wakeup.set()


def _committed_offsets(store: Store, *, topic: str) -> dict[int, int]:
    return store.ingest.committed_offsets(topic)
