"""The worker's side of unlearning: snapshots for the trainer, dirty shards, retrains, audits.

The trainer runs in its own process and never opens DuckDB (the worker is its only writer), so
each step that touches the store is an endpoint here:

* ``POST /adapters/snapshot/``: export training data, now or inside a set's recorded cut.
* ``GET /adapters/dirty/``: the active dirty-shard marks (what the scheduler retrains).
* ``POST /adapters/retrained/ {"version": V, "detail": {...}}``: V is published. Its manifest's
  ``dirty_high_water`` says which deletions its snapshot already excluded; their marks are
  cleared, the audit trail gets ``retrained`` and ``deletion-status`` gets a ``retrained``
  status per finished request. The high water is read from the set on disk, not taken from the
  caller, so a confused trainer cannot clear a mark its set does not cover. Idempotent: the
  trainer repeats the call until it is answered.
* ``POST /adapters/retrain-failed/ {"kind": "deletion"|"refresh", "error": "..."}``: a run
  raised before publishing; counted in ``streamrec_retrains_total{outcome="failed"}``
  (``streams.agents.retrain_metrics``, which also counts the published runs above).
* ``GET /deletions/{request_id}/audit/``: a request's ledger row and audit trail.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import asdict
from typing import Any

import faust
from faust.web import Request, Response, View

from serving.adapters import read_manifest
from streams import metrics
from streams.agents.retrain_metrics import RetrainReports, observe_failed, retrain_kind
from streams.agents.runtime import Runtime, Topics
from streams.contracts import SCHEMA_VERSION, DeletionStatus
from streams.delivery import send_and_wait
from streams.store import DataCut, Store

__all__ = ["register", "retrained_detail"]

log = logging.getLogger(__name__)


def retrained_detail(detail: dict[str, Any]) -> str:
    """The human line of a ``retrained`` status: which shards, old -> new hashes, how long."""
    shards = detail.get("shards", [])
    changed = [s for s in shards if s.get("retrained")]
    kept = [str(s["shard"]) for s in shards if not s.get("retrained")]
    parts = [
        f"shard {s['shard']} {s['old_sha256'][:12]} -> {s['new_sha256'][:12]} ({s['train_seconds']:.0f} s)"
        for s in changed
    ]
    text = f"adapter set {detail.get('previous')} retrained without the data as {detail.get('version')}: "
    text += "; ".join(parts) if parts else "no shard's training data had changed, every file kept"
    if kept and parts:
        text += f"; shard(s) {','.join(kept)} unchanged (same sha256)"
    if "seconds" in detail:
        text += f"; retrain {float(detail['seconds']):.0f} s"
    return text


def register(app: faust.App, runtime: Runtime, topics: Topics) -> None:
    reports = RetrainReports()  # the retrain metrics, once per published set version

    @app.page("/adapters/snapshot/")
    class ExportSnapshot(View):
        """POST: export the training data for a trainer (adapters).

        An empty body exports everything up to the current watermark. A body
        ``{"watermark": W, "summary_versions": {user_key: version}}`` exports the retained data
        inside that recorded cut, which is what rebuilding a set from scratch needs.
        """

        async def post(self, request: Request) -> Response:
            cut = None
            body = await request.read()
            try:
                payload = json.loads(body) if body.strip() else {}
                if payload.get("watermark") is not None:
                    cut = DataCut(int(payload["watermark"]), dict(payload.get("summary_versions") or {}))
            except (ValueError, TypeError, AttributeError) as exc:
                return self.json({"error": f"bad data cut: {exc}"}, status=400)
            directory = runtime.settings.snapshots_dir / uuid.uuid4().hex[:12]
            info = await runtime.store.run(lambda s: s.snapshots.export(directory, cut))
            return self.json(asdict(info), status=201)

    @app.page("/adapters/dirty/")
    async def dirty(web: View, request: Request) -> Response:
        def read(store: Store) -> dict[str, Any]:
            return {
                "active": [asdict(m) for m in store.dirty.active()],
                "high_water": store.dirty.high_water(),
                # The newest interaction's seq: the refresh job's measure of growth.
                "watermark": store.audit.watermark(),
                # (request id, salted key) of every purge: old sets holding them are deleted.
                "purged": store.deletions.purged(),
            }

        return web.json(await runtime.store.run(read))

    @app.page("/adapters/retrained/")
    class Retrained(View):
        async def post(self, request: Request) -> Response:
            try:
                payload = json.loads(await request.read())
                version = str(payload["version"])
                detail = dict(payload.get("detail") or {})
            except (ValueError, TypeError, KeyError) as exc:
                return self.json({"error": f"bad body: {exc}"}, status=400)
            try:
                manifest = await asyncio.to_thread(read_manifest, runtime.settings.adapters_dir, version)
            except (OSError, ValueError) as exc:
                return self.json({"error": f"no readable adapter set {version!r}: {exc}"}, status=404)
            through = int(manifest.get("dirty_high_water", 0))
            detail = {**detail, "version": version, "dirty_high_water": through}

            def clear(store: Store) -> list[tuple[str, str]]:
                done = store.dirty.retrained(version, through, detail)
                keys = []
                for request_id in done:
                    ledger = store.trail.ledger(request_id)
                    keys.append((request_id, str(ledger["user_key"]) if ledger else request_id))
                metrics.DIRTY_SHARDS.set(len(store.dirty.excluded()))
                return keys

            done = await runtime.store.run(clear)
            text = retrained_detail(detail)
            for request_id, user_key in done:
                status = DeletionStatus(
                    schema_version=SCHEMA_VERSION,
                    request_id=request_id,
                    user_id=user_key,
                    stage="retrained",
                    detail=text,
                    at=int(time.time() * 1000),
                )
                await send_and_wait(topics.deletion_status, user_key, status)
            reports.published(version, detail, len(done))
            answer = {"version": version, "cleared_through": through, "requests": [r for r, _ in done]}
            return self.json(answer)

    @app.page("/adapters/retrain-failed/")
    class RetrainFailed(View):
        async def post(self, request: Request) -> Response:
            try:
                payload = json.loads(await request.read())
                asked, error = payload.get("kind"), str(payload.get("error", ""))[:200]
            except (ValueError, TypeError, AttributeError) as exc:
                return self.json({"error": f"bad body: {exc}"}, status=400)
            kind = retrain_kind(asked)
            if kind is None:
                return self.json({"error": f"kind must be deletion or refresh, got {asked!r}"}, status=400)
            observe_failed(kind)
            log.warning("the trainer reports a failed %s run: %s", kind, error)
            return self.json({"counted": kind})

    @app.page("/deletions/{request_id}/audit/")
    async def audit(web: View, request: Request, request_id: str) -> Response:
        def read(store: Store) -> dict[str, Any] | None:
            ledger = store.trail.ledger(request_id)
            if ledger is None:
                return None
            return {
                "ledger": ledger,
                "trail": [asdict(e) for e in store.trail.entries(request_id)],
                "marks": [
                    {"mark_id": m, "shard": s, "adapter_set": a, "cleared_by": c, "cleared_at": t}
                    for m, s, a, c, t in store.audit.query(
                        "SELECT mark_id, shard, adapter_set, cleared_by, cleared_at FROM dirty_shards "
                        "WHERE request_id = ? ORDER BY mark_id",
                        [request_id],
                    )
                ],
            }

        body = await runtime.store.run(read)
        if body is None:
            return web.json({"error": f"no deletion request {request_id!r}"}, status=404)
        return web.json(body)
