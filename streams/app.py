"""The Faust application of one worker: broker settings and the wiring of every agent.

This is the only module that knows all agents; each agent module knows only what it needs
(``streams.agents.runtime``), so the wiring reads top to bottom in :func:`create_app`.
"""

from __future__ import annotations

import faust
from faust.types import TP

from streams import transport
from streams.agents import (
    Backfills,
    Runtime,
    catalog,
    clicks,
    declare_topics,
    deletions,
    recommend,
    status,
    summarize,
    topic_watch,
    unlearning,
)
from streams.kafka_security import faust_credentials
from streams.settings import Settings
from streams.store import AsyncStore

__all__ = ["create_app"]


def create_app(settings: Settings) -> tuple[faust.App, Runtime]:
    """Build the app and register all agents, tasks and web pages."""
    app = faust.App(
        settings.app_id,
        broker=f"{transport.SCHEME}://{settings.bootstrap}",
        # SASL/TLS for the consumer, the producer and topic creation, from the same
        # KafkaSecurity the confluent-kafka tools use (streams.kafka_security).
        broker_credentials=faust_credentials(settings.kafka_security),
        store="memory://",  # state lives in DuckDB, not in Faust tables
        datadir=str(settings.data_dir / "faust"),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        web_host=settings.web_host,
        web_bind=settings.web_host,  # 127.0.0.1 locally; set STREAMREC_WEB_HOST=0.0.0.0 in a container
        web_port=settings.web_port,
        web_enabled=True,
        # Faster group joins on the embedded broker; production clusters keep defaults.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
        broker_rebalance_timeout=10.0,
        stream_wait_empty=False,
    )
    transport.configure(app, settings.fetch_max_wait_ms)
    topics = declare_topics(app, settings.partitions)
    runtime = Runtime(settings=settings, store=AsyncStore(str(settings.database_path)))

    async def seek(topic: str, partition: int, offset: int) -> None:
        await app.consumer.seek(TP(topic, partition), offset)

    runtime.seek = seek
    transport.start_from(app, runtime.start_positions)

    # The summary service (None when summaries are off) is shared with the agents that
    # claim users from it: deletion rebuilds and the backfill endpoints.
    summaries = summarize.build_service(runtime)
    backfills = Backfills(summaries) if summaries is not None else None

    clicks.register(app, runtime, topics)
    catalog.register(app, runtime, topics)
    deletions.register(app, runtime, topics, summaries)
    recommend.register(app, runtime, topics)
    summarize.register(app, summaries)
    status.register(app, runtime, topics, backfills)
    unlearning.register(app, runtime, topics)
    topic_watch.register(app, runtime)
    return app, runtime
