"""The worker's HTTP endpoints: ``/status`` (JSON), ``/ready`` and ``/metrics`` (Prometheus).

Served by Faust's own web server. The worker is the only process allowed to open the DuckDB
file while it runs, so anything that wants to look at the state (``streamrec status``, the
supervisor's readiness check, dashboards) asks the worker instead of opening the file. A timer
keeps the one gauge no agent owns fresh for ``/metrics``: the consumer lag per partition
(``streams.agents.lag``).
"""

from __future__ import annotations

import logging
from typing import Any

import faust
from faust.exceptions import NotReady
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams.agents import lag
from streams.agents.backfill import Backfills
from streams.agents.runtime import Runtime, Topics
from streams.contracts import CLICKS, ITEMS

__all__ = ["register"]

log = logging.getLogger(__name__)


def register(app: faust.App, runtime: Runtime, topics: Topics, backfills: Backfills | None) -> None:
    @app.page("/status/")
    async def status(web: View, request: Request) -> Response:
        def snapshot(store: Any) -> dict[str, Any]:
            return {
                "tables": store.audit.table_counts(),
                "pending_users": store.pending.count(),
                "summary_block": runtime.settings.summary_block,
                "summary_backlog_blocks": (
                    store.summaries.backlog_blocks(runtime.settings.summary_block)
                    if runtime.settings.summary_block > 0
                    else None
                ),
                "offsets": {t: store.ingest.committed_offsets(t) for t in (CLICKS, ITEMS)},
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

    @app.page("/summaries/backfill/")
    class StartBackfill(View):
        """POST {"mode": "hierarchical"|"recurrent", "users": [...] | null} starts a job."""

        async def post(self, request: Request) -> Response:
            if backfills is None:
                return self.json({"error": "summaries are disabled (STREAMREC_SUMMARY_BLOCK=0)"}, status=409)
            body = await request.json()
            mode = body.get("mode")
            users = body.get("users")
            if mode not in ("hierarchical", "recurrent"):
                return self.json(
                    {"error": f"mode must be hierarchical or recurrent, got {mode!r}"}, status=400
                )
            if users is not None and not (isinstance(users, list) and all(isinstance(u, str) for u in users)):
                return self.json({"error": "users must be a list of strings or null"}, status=400)
            job = backfills.start(mode, users)
            return self.json(job.as_dict(), status=202)

    @app.page("/summaries/backfill/{job_id}/")
    class BackfillProgress(View):
        async def get(self, request: Request, job_id: str) -> Response:
            job = backfills.jobs.get(job_id) if backfills is not None else None
            if job is None:
                return self.json({"error": f"no backfill job {job_id!r}"}, status=404)
            return self.json(job.as_dict())

    @app.page("/summaries/{user_id}/")
    class UserSummaries(View):
        """Every stored version of one user's chain (for the CLI and debugging)."""

        async def get(self, request: Request, user_id: str) -> Response:
            rows = await runtime.store.run(lambda s: s.summaries.chain(user_id))
            return self.json([row.__dict__ for row in rows])

    lag_shown: set[tuple[str, str]] = set()

    @app.timer(interval=lag.INTERVAL_S)
    async def consumer_lag() -> None:
        """Refresh ``streamrec_consumer_lag_records`` from what the consumer holds in memory."""
        nonlocal lag_shown
        consumer = app.consumer
        try:
            lag_shown = lag.observe_lag(
                consumer, getattr(consumer, "_committed_offset", {}), runtime.applied_offsets, lag_shown
            )
        except (NotReady, AssertionError) as exc:  # not started yet, or mid-rebalance: next tick
            log.debug("consumer lag not available yet: %r", exc)

    @app.page("/metrics/")
    async def prometheus(web: View, request: Request) -> Response:
        # aiohttp refuses a charset inside ``content_type``; Prometheus' type carries one, so it
        # goes in as a plain header.
        return web.bytes(generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})
