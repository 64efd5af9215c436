"""Fail-stop the worker when a topic it stores offsets for is recreated under it.

The offsets in DuckDB are positions in one incarnation of ``clicks`` and ``items``
(``streams.kafka.incarnation``). A running consumer does not notice a re-creation: after the
embedded broker restarts empty it resets to the start of the new topic and the ingest agents
skip every record below the old offsets, or, if producers refilled the topic first, it goes on
from the old position and never reads the records before it. Either way data is lost silently.

So a timer compares the broker's topic ids with those adopted at startup and, on a change,
stops the process without acknowledging anything more (the same exit code as a failed durable
write). The restart adopts the new incarnation: it drops the stale offsets, rewinds the
consumer group and re-reads the topic whole, ``event_id`` keeping the re-read idempotent.
Records of the new topic stored before the stop stay stored; nothing is committed that was not.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping

import faust
from confluent_kafka import KafkaException

from streams.agents.runtime import Runtime
from streams.delivery import FAIL_STOP_EXIT_CODE
from streams.kafka import topic_ids

__all__ = ["INTERVAL_S", "changed_topics", "register"]

log = logging.getLogger(__name__)

INTERVAL_S = 5.0  # one metadata request per tick; the window in which a re-read is at risk


def changed_topics(adopted: Mapping[str, str], current: Mapping[str, str | None]) -> list[str]:
    """Topics whose broker id differs from the adopted one.

    A topic that is missing (deleted, not yet recreated) or whose id is unknown is not a change
    yet: the consumer cannot read a missing topic, and the next tick sees the new id.
    """
    return sorted(
        topic
        for topic, topic_id in adopted.items()
        if current.get(topic) is not None and current[topic] != topic_id
    )


def register(app: faust.App, runtime: Runtime) -> None:
    settings = runtime.settings

    @app.timer(interval=INTERVAL_S)
    async def watch_topic_incarnations() -> None:
        if not runtime.topic_ids:
            return  # started without the worker's adoption (tests, tools)
        try:
            current = await asyncio.to_thread(
                topic_ids, settings.bootstrap, list(runtime.topic_ids), security=settings.kafka_security
            )
        except KafkaException as exc:  # broker unreachable: the consumer is waiting too
            log.debug("topic ids not available: %s", exc)
            return
        changed = changed_topics(runtime.topic_ids, current)
        if changed:
            log.critical(
                "topics %s were recreated while the worker ran; stopping so that the restart "
                "re-reads them from the start",
                changed,
            )
            os._exit(FAIL_STOP_EXIT_CODE)
