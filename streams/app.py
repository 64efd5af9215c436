"""The Faust application: broker settings, topics, and the wiring of every agent.

Topics are declared with raw (bytes) serialisers on purpose: agents validate values
themselves, so a malformed record becomes a dead letter with a reason instead of a
deserialisation error that Faust would log and skip.
"""

from __future__ import annotations

from dataclasses import dataclass

import faust

from streams import topics as names
from streams.runtime import AsyncStore, Runtime
from streams.settings import Settings

__all__ = ["Topics", "create_app"]


@dataclass(frozen=True)
class Topics:
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


def create_app(settings: Settings) -> tuple[faust.App, Runtime]:
    """Build the app and register all agents, tasks and web pages."""
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.bootstrap}",
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
    topics = Topics(
        clicks=_topic(app, names.CLICKS, settings.partitions),
        items=_topic(app, names.ITEMS, settings.partitions),
        recommendations=_topic(app, names.RECOMMENDATIONS, settings.partitions),
        deletions=_topic(app, names.DELETIONS, settings.partitions),
        deletion_status=_topic(app, names.DELETION_STATUS, settings.partitions),
        dead_letters=_topic(app, names.DEAD_LETTERS, settings.partitions),
    )
    runtime = Runtime(settings=settings, store=AsyncStore(str(settings.database_path)))

    # Imported here so that importing streams.app for its types stays light.
    from streams import catalog, clicks, deletions, recommend, status, summarize

    clicks.register(app, runtime, topics)
    catalog.register(app, runtime, topics)
    deletions.register(app, runtime, topics)
    recommend.register(app, runtime, topics)
    summarize.register(app, runtime)
    status.register(app, runtime, topics)
    return app, runtime
