"""The worker's HTTP endpoints: ``/status`` (JSON), ``/ready`` and ``/metrics`` (Prometheus).

Served by Faust's own web server. The worker is the only process allowed to open the DuckDB
file while it runs, so anything that wants to look at the state (``streamrec status``, the
supervisor's readiness check, dashboards) asks the worker instead of opening the file.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams.app import Topics
from streams.runtime import Runtime
from streams.topics import CLICKS, ITEMS

__all__ = ["register"]


def register(app: faust.App, runtime: Runtime, topics: Topics) -> None:
    @app.page("/status/")
    async def status(web: View, request: Request) -> Response:
        def snapshot(store: Any) -> dict[str, Any]:
            return {
                "tables": store.table_counts(),
                "pending_users": store.pending_count(),
                "offsets": {t: store.committed_offsets(t) for t in (CLICKS, ITEMS)},
            }

        body = await runtime.store.run(snapshot)
        body["assigned_partitions"] = sorted(
            f"{tp.topic}[{tp.partition}]" for tp in app.consumer.assignment()
        )
        body["settings"] = {
            "bootstrap": runtime.settings.bootstrap,
            "triton": runtime.settings.triton_grpc,
            "database": str(runtime.settings.database_path),
            "candidates": runtime.settings.candidates,
            "top_k": runtime.settings.top_k,
        }
        return web.json(body)

    @app.page("/ready/")
    async def ready(web: View, request: Request) -> Response:
        """200 once the consumer owns partitions of every input topic (ingestion can start)."""
        assigned = {tp.topic for tp in app.consumer.assignment()}
        wanted = {
            topics.clicks.get_topic_name(),
            topics.items.get_topic_name(),
            topics.deletions.get_topic_name(),
        }
        missing = sorted(wanted - assigned)
        return web.json({"ready": not missing, "missing": missing}, status=200 if not missing else 503)

    @app.page("/metrics/")
    async def prometheus(web: View, request: Request) -> Response:
        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST)
