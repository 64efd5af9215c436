"""The trainer process: one APScheduler with two jobs, retrains for deletions and refreshes.

``streamrec trainer`` (``streamrec up`` starts it next to the worker) runs it in its own
process, so ingestion and recommendation go on while a shard trains. It never opens DuckDB; it
asks the worker (``streams.agents.unlearning``) for the dirty marks and snapshots, and tells
it when a set is published.

* **unlearn** (every ``poll_s``): when dirty marks wait and the debounce window has passed,
  retrain the current set at its own cut (``streams.training.retrain``), publish, notify.
* **refresh** (every ``refresh_poll_s``): continuous learning. When the store has grown enough
  since the current set's watermark, or the set is old, train at the newest watermark with the
  set's recipe, keeping every shard whose samples did not change. It never runs while a
  deletion waits: deletions go first.

**Crash safety.** Every decision is made from durable state, so a restarted trainer resumes
where the killed one stopped: the marks stay in DuckDB until a published set covers them, a
half-written set is only a temporary directory (removed on start), and a set that was
published but not yet reported (killed between the two) is reported on the next tick,
because its manifest records the marks it covers.

**Metrics.** The trainer serves no ``/metrics``: each report names its ``kind`` (``deletion`` or
``refresh``) and its ``seconds``, and a run that raises is reported to
``POST /adapters/retrain-failed/``, so the worker, which Prometheus scrapes, counts every run
(``streamrec_retrains_total``, ``streamrec_retrain_seconds``).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from models.training.trainer import config_from_manifest
from serving.adapters import (
    CURRENT,
    list_versions,
    purged_holders,
    read_current,
    read_manifest,
    remove_partial_sets,
    remove_version,
)
from streams.training.cut import read_data_cut
from streams.training.job import train_from_snapshot
from streams.training.retrain import retrain_set
from streams.training.trainer_config import TrainerConfig
from streams.worker_client import WorkerRefused, WorkerUnavailable, call_worker

__all__ = ["Decision", "Trainer", "refresh_due", "unlearn_decision", "main"]

log = logging.getLogger(__name__)

Decision = Literal["idle", "notify", "wait", "retrain"]


def unlearn_decision(
    marks: Sequence[Mapping[str, Any]], covered_through: int, now_ms: int, config: TrainerConfig
) -> Decision:
    """What the unlearn job does now, from the active marks and the current set's high water.

    ``notify``: the current set already excludes every waiting deletion (it was published from
    a later snapshot, and the report did not reach the worker); only the report is missing.
    """
    if not marks:
        return "idle"
    if all(int(m["mark_id"]) <= covered_through for m in marks):
        return "notify"
    newest = max(int(m["marked_at"]) for m in marks)
    oldest = min(int(m["marked_at"]) for m in marks)
    quiet = now_ms - newest >= config.debounce_s * 1000
    overdue = now_ms - oldest >= config.max_delay_s * 1000
    return "retrain" if quiet or overdue else "wait"


def refresh_due(set_watermark: int, watermark: int, set_age_s: float, config: TrainerConfig) -> str | None:
    """Why the set should be refreshed now (a reason), or None."""
    if watermark <= set_watermark:
        return None
    growth = (watermark - set_watermark) / max(set_watermark, 1)
    if config.refresh_growth > 0 and growth >= config.refresh_growth:
        return f"the store grew by {growth:.0%} since the set's watermark {set_watermark}"
    if config.refresh_age_s > 0 and set_age_s >= config.refresh_age_s:
        return f"the set is {set_age_s / 3600:.1f} h old and {watermark - set_watermark} interactions arrived"
    return None


@dataclass
class Trainer:
    """The jobs' logic, apart from APScheduler so tests can drive it tick by tick."""

    web_url: str
    adapters_root: Path
    model_dir: Path
    config: TrainerConfig
    state_path: Path
    progress: Callable[[int, int, int, float], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    runs: list[dict[str, Any]] = field(default_factory=list)
    waiting: dict[str, Any] = field(default_factory=dict)
    next_runs: dict[str, str | None] = field(default_factory=dict)
    pruned: list[str] = field(default_factory=list)

    def call(self, path: str, payload: dict[str, Any] | None = None) -> Any:
        return call_worker(self.web_url, path, payload, timeout_s=120.0)

    # -- unlearn -------------------------------------------------------------------------------

    def unlearn_tick(self) -> Decision:
        """One look at the marks; retrain or report as needed. Never raises for a busy worker."""
        with self.lock:
            try:
                return self._unlearn()
            except (WorkerUnavailable, WorkerRefused) as exc:
                log.warning("unlearn: worker not available (%s); trying again", exc)
                return "wait"
            except Exception as exc:
                self.report_failure("deletion", exc)
                raise  # APScheduler logs it; the marks stay, so the next tick tries again
            finally:
                self.write_state()

    def _unlearn(self) -> Decision:
        dirty = self.call("/adapters/dirty/")
        current = read_current(self.adapters_root)
        covered = int(read_manifest(self.adapters_root, current).get("dirty_high_water", 0)) if current else 0
        marks = dirty["active"]
        decision = unlearn_decision(marks, covered, int(time.time() * 1000), self.config)
        self.waiting = {
            "marks": len(marks),
            "shards": sorted({int(m["shard"]) for m in marks}),
            "decision": decision,
        }
        if decision == "notify" and current is not None:
            self.notify(current, {"note": "reported after a restart: the set was already published"})
        elif decision == "retrain":
            if current is None:
                # Marks without a set cannot happen through a purge; clear them with no set.
                log.warning("dirty marks but no adapter set is served; nothing to retrain")
                return "idle"
            self.retrain(current, marks)
        if decision in ("idle", "notify"):
            self.prune([(str(r), str(k)) for r, k in dirty.get("purged", [])])
        return decision

    def prune(self, purged: Sequence[tuple[str, str]]) -> list[str]:
        """Delete superseded sets that still hold purged data (their files are personal data).

        Only once the current set has been current for ``prune_grace_s``, and never the current
        set itself: while it holds purged data its shards are dirty, and a retrain replaces it.
        """
        current = read_current(self.adapters_root)
        if current is None:
            return []
        age = time.time() - (self.adapters_root / CURRENT).stat().st_mtime
        if age < self.config.prune_grace_s:
            return []
        removed = []
        for version in list_versions(self.adapters_root):
            if version != current and purged_holders(self.adapters_root, version, purged):
                remove_version(self.adapters_root, version)
                removed.append(version)
        if removed:
            log.info("deleted superseded adapter set(s) holding purged data: %s", ", ".join(removed))
            self.pruned.extend(removed)
        return removed

    def retrain(self, current: str, marks: Sequence[Mapping[str, Any]]) -> None:
        waited_s = (time.time() * 1000 - min(int(m["marked_at"]) for m in marks)) / 1000
        watermark, versions = read_data_cut(self.adapters_root, current)
        started = time.perf_counter()
        snapshot = self.call("/adapters/snapshot/", {"watermark": watermark, "summary_versions": versions})
        export_s = time.perf_counter() - started
        log.info(
            "retraining %s for %d dirty mark(s) at its cut (watermark %d, marks through %d)",
            current,
            len(marks),
            watermark,
            snapshot.get("dirty_high_water", 0),
        )
        result = retrain_set(
            Path(snapshot["path"]), self.adapters_root, current, self.model_dir, progress=self.progress
        )
        detail = {
            **result.as_dict(),
            "kind": "deletion",
            "waited_s": round(waited_s, 3),
            "export_seconds": round(export_s, 3),
        }
        detail["seconds"] = round(time.perf_counter() - started, 3)
        log.info(
            "published %s: retrained shard(s) %s in %.0f s",
            result.version,
            result.retrained,
            detail["seconds"],
        )
        self.runs.append({"kind": "deletion", **detail, "finished_at": int(time.time() * 1000)})
        self.notify(result.version, detail)

    def notify(self, version: str, detail: dict[str, Any]) -> None:
        """Tell the worker ``version`` is published (it clears marks and reports ``retrained``)."""
        answer = self.call("/adapters/retrained/", {"version": version, "detail": detail})
        log.info(
            "worker cleared marks through %s: %d request(s) retrained",
            answer["cleared_through"],
            len(answer["requests"]),
        )

    def report_failure(self, kind: str, exc: BaseException) -> None:
        """Tell the worker a run raised (for ``streamrec_retrains_total``); best effort.

        The report must not hide the failure it reports, so its own errors are only logged.
        """
        error = f"{type(exc).__name__}: {exc}"[:200]
        try:
            self.call("/adapters/retrain-failed/", {"kind": kind, "error": error})
        except Exception as report_exc:  # the original failure is what matters
            log.warning("could not report the failed %s run to the worker: %s", kind, report_exc)

    # -- refresh -------------------------------------------------------------------------------

    def refresh_tick(self) -> str | None:
        """Refresh the set if it is due and no deletion waits; returns the new version or None."""
        with self.lock:
            try:
                return self._refresh()
            except (WorkerUnavailable, WorkerRefused) as exc:
                log.warning("refresh: worker not available (%s); trying later", exc)
                return None
            except Exception as exc:
                self.report_failure("refresh", exc)
                raise
            finally:
                self.write_state()

    def _refresh(self) -> str | None:
        current = read_current(self.adapters_root)
        if current is None:
            return None  # the first set is trained on request (`streamrec adapters train`)
        dirty = self.call("/adapters/dirty/")
        if dirty["active"]:
            return None  # deletions go first
        manifest = read_manifest(self.adapters_root, current)
        age_s = time.time() - (self.adapters_root / current / "manifest.json").stat().st_mtime
        reason = refresh_due(int(manifest["watermark"]), int(dirty["watermark"]), age_s, self.config)
        if reason is None:
            return None
        log.info("refreshing %s: %s", current, reason)
        started = time.perf_counter()
        snapshot = self.call("/adapters/snapshot/", {})
        version = train_from_snapshot(
            Path(snapshot["path"]),
            self.adapters_root,
            self.model_dir,
            config_from_manifest(manifest),
            progress=self.progress,
            reuse=True,
        )
        new = read_manifest(self.adapters_root, version)
        detail = {
            "kind": "refresh",
            "previous": current,
            "version": version,
            "reason": reason,
            "seconds": round(time.perf_counter() - started, 3),
            "shards": [
                {
                    "shard": s["shard"],
                    "retrained": not s.get("reused", False),
                    "train_seconds": s["train_seconds"],
                }
                for s in new["shards"]
            ],
        }
        self.runs.append({"kind": "refresh", **detail, "finished_at": int(time.time() * 1000)})
        self.notify(version, detail)
        return version

    # -- state for `streamrec status` ----------------------------------------------------------

    def write_state(self) -> None:
        """The scheduler's view, for ``streamrec status`` (written atomically, never read back)."""
        state = {
            "pid": os.getpid(),
            "updated_at": int(time.time() * 1000),
            "current": read_current(self.adapters_root),
            "waiting": self.waiting,
            "next_runs": self.next_runs,
            "last_runs": self.runs[-5:],
            "pruned": self.pruned[-20:],
            "config": self.config.__dict__,
        }
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.state_path)


def run(trainer: Trainer) -> None:
    """Run both jobs on one APScheduler until SIGINT/SIGTERM."""
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.blocking import BlockingScheduler

    removed = remove_partial_sets(trainer.adapters_root)
    if removed:
        log.warning("removed half-written adapter set(s) from a crash: %s", ", ".join(removed))
    scheduler = BlockingScheduler(executors={"default": ThreadPoolExecutor(2)})
    common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
    scheduler.add_job(trainer.unlearn_tick, "interval", seconds=trainer.config.poll_s, id="unlearn", **common)
    scheduler.add_job(
        trainer.refresh_tick, "interval", seconds=trainer.config.refresh_poll_s, id="refresh", **common
    )

    def remember_next_runs(event: object) -> None:
        trainer.next_runs = {
            job.id: job.next_run_time.isoformat() if job.next_run_time else None
            for job in scheduler.get_jobs()
        }

    scheduler.add_listener(remember_next_runs, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    log.info(
        "trainer: unlearn every %.0f s (debounce %.0f s), refresh every %.0f s",
        trainer.config.poll_s,
        trainer.config.debounce_s,
        trainer.config.refresh_poll_s,
    )
    scheduler.start()


def main(argv: list[str] | None = None) -> int:
    import argparse

    from models.loading import resolve_model_dir
    from streams.settings import Settings

    parser = argparse.ArgumentParser(prog="python -m streams.training.scheduler", description=__doc__)
    parser.parse_args(argv)
    settings = Settings.from_env()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    trainer = Trainer(
        web_url=settings.web_url,
        adapters_root=settings.adapters_dir,
        model_dir=resolve_model_dir(settings.data_dir, settings.model_path),
        config=TrainerConfig.from_env(),
        state_path=settings.data_dir / "trainer" / "state.json",
    )
    run(trainer)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
