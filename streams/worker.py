"""Run one streamrec worker: ``python -m streams.worker`` or ``streamrec worker``.

The worker needs a reachable Kafka and Triton (see ``streams.settings``); ``streamrec up``
starts both locally and then this process. It creates the topics if they are missing, so it
also runs as-is against a production cluster.

One worker owns one DuckDB file (DuckDB allows a single writer), so run one worker per data
directory.
"""

from __future__ import annotations

import logging

import faust

from streams.agents import INGEST_TOPICS
from streams.app import create_app
from streams.kafka import end_offsets, ensure_topics, topic_ids
from streams.settings import Settings
from streams.store import Store

log = logging.getLogger(__name__)

__all__ = ["run_worker"]

_LOG_LEVELS = {"crit": "critical", "error": "error", "warn": "warning", "info": "info", "debug": "debug"}


def run_worker(settings: Settings) -> None:
    """Block until the worker is stopped by SIGINT/SIGTERM."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    ensure_topics(
        settings.bootstrap, settings.partitions, settings.replication_factor, security=settings.kafka_security
    )
    incarnations = _adopt_topics(settings)
    app, runtime = create_app(settings)
    runtime.topic_ids = incarnations
    worker = faust.Worker(app, loglevel=_LOG_LEVELS[settings.log_level], quiet=True)
    # aiokafka and Faust are chatty at info level on every rebalance.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    try:
        worker.execute_from_commandline()
    finally:
        runtime.store.close()


def _adopt_topics(settings: Settings) -> dict[str, str]:
    """Validate the stored offsets against the broker's topics; return the topic ids adopted.

    A topic recreated since its offsets were stored (``Ingest.stale_partitions``) has them
    dropped, so the ingest agents read it again from the start: the consumer group may have
    committed positions in the new topic already, so after every assignment the consumer
    starts where DuckDB says (``Runtime.start_positions`` via ``streams.transport.start_from``),
    not where the group does. ``streams.agents.topic_watch`` compares
    the returned ids with the broker's while the worker runs.
    """
    store = Store(settings.database_path)
    adopted: dict[str, str] = {}
    try:
        ids = topic_ids(settings.bootstrap, INGEST_TOPICS, security=settings.kafka_security)
        for topic in INGEST_TOPICS:
            topic_id = ids.get(topic)
            ends = end_offsets(settings.bootstrap, topic, security=settings.kafka_security)
            stale = store.ingest.stale_partitions(topic, topic_id, ends)
            if stale:
                log.warning("topic %s was recreated; re-reading partitions %s from the start", topic, stale)
            store.ingest.adopt_topic(topic, topic_id, stale)
            if topic_id is not None:
                adopted[topic] = topic_id
    finally:
        store.close()
    return adopted


if __name__ == "__main__":
    run_worker(Settings.from_env())
