"""Publishing helpers that wait for the broker's acknowledgement.

Faust's ``topic.send`` only buffers; awaiting the returned future waits for delivery. Every
publish that precedes a durable state change (dead letters before their offsets are stored, a
recommendation before its pending mark is cleared) goes through here so the order holds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import faust
from pydantic import BaseModel

from streams import metrics
from streams.contracts import DeadLetter

__all__ = ["send_and_wait", "send_dead_letters"]

log = logging.getLogger(__name__)


async def send_and_wait(topic: faust.TopicT, key: str | None, value: BaseModel) -> None:
    """Publish one contract value as JSON and wait until the broker acknowledged it."""
    future = await topic.send(
        key=key.encode() if key is not None else None, value=value.model_dump_json().encode()
    )
    await future


async def send_dead_letters(topic: faust.TopicT, letters: Sequence[DeadLetter]) -> None:
    """Publish rejected records, then wait for all acknowledgements together."""
    futures = []
    for letter in letters:
        log.warning(
            "dead letter %s[%d] offset %d: %s",
            letter.source_topic,
            letter.partition,
            letter.offset,
            letter.error,
        )
        metrics.DEAD_LETTERS.labels(source_topic=letter.source_topic).inc()
        futures.append(
            await topic.send(
                key=letter.key.encode() if letter.key else None, value=letter.model_dump_json().encode()
            )
        )
    await asyncio.gather(*futures)
