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

from streams.app import create_app
from streams.contracts import CLICKS, ITEMS
from streams.kafka import end_offsets, ensure_topics
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
    _drop_stale_offsets(settings)
    app, runtime = create_app(settings)
    worker = faust.Worker(app, loglevel=_LOG_LEVELS[settings.log_level], quiet=True)
    # aiokafka and Faust are chatty at info level on every rebalance.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    try:
        worker.execute_from_commandline()
    finally:
        runtime.store.close()


def _drop_stale_offsets(settings: Settings) -> None:
    """Detect topics recreated since the last run (see ``streams.store.ingest.reset_stale_offsets``)."""
    store = Store(settings.database_path)
    try:
        for topic in (CLICKS, ITEMS):
            ends = end_offsets(settings.bootstrap, topic, security=settings.kafka_security)
            stale = store.ingest.reset_stale_offsets(topic, ends)
            if stale:
                log.warning("topic %s was recreated; re-reading partitions %s from the start", topic, stale)
    finally:
        store.close()


if __name__ == "__main__":
    run_worker(Settings.from_env())
