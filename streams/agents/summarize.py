"""Recurrent preference summaries in the stream (LLM-TRSR): the background task and its jobs.

Every B new interactions of a user form a block, and ``summary_k = LLM(summary_{k-1}, block_k)``
(``summary_1 = LLM(block_1)``). The chain lives in DuckDB (``streams.summary_store``); this
module decides *what* to summarize next and calls the ``summarizer`` Triton model.

* **Asynchronous.** Ingestion only wakes this task; recommendation reads whatever summary is
  latest. Neither ever waits on generation.
* **Batched.** One Triton call carries the next update of up to ``summary_batch`` users.
* **Folding when behind.** A user normally gets one block per update. Once more than
  ``summary_fold_after`` blocks are pending (the summarizer fell behind), the next update folds
  up to ``summary_max_fold`` blocks into one, so the per-user backlog stays bounded and no
  interaction is dropped.
* **Exclusive users.** Deletion rebuilds and backfills claim their users, so the background
  loop never races them into a different (folded) chain.

Hierarchical mode (the paper's other paradigm, for backfilling long histories): summarize each
block independently, then merge the block summaries (in groups, as a tree) into one version.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import faust

from models.summary_prompts import SummaryPromptConfig, merge_prompt, recurrent_prompt
from serving.exceptions import ServingError
from serving.summarizer_client import SummarizerClient, SummaryResult
from streams import metrics
from streams.runtime import Runtime
from streams.summary_store import SummaryRow, SummaryWork

__all__ = ["Summaries", "BackfillJob", "register"]

log = logging.getLogger(__name__)

Mode = Literal["recurrent", "hierarchical"]
MERGE_GROUP = 8  # block summaries merged per call in hierarchical mode (bounds the prompt)


@dataclass
class BackfillJob:
    """Progress of one backfill, as reported by ``GET /summaries/backfill/<id>/``."""

    job_id: str
    mode: Mode
    users_total: int = 0
    users_done: int = 0
    versions_written: int = 0
    state: str = "running"  # running | done | failed
    error: str | None = None
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Summaries:
    runtime: Runtime
    client: SummarizerClient
    prompt_config: SummaryPromptConfig = field(default_factory=SummaryPromptConfig)
    claimed: set[str] = field(default_factory=set)  # users owned by a rebuild or backfill
    jobs: dict[str, BackfillJob] = field(default_factory=dict)
    _tasks: set[asyncio.Future[None]] = field(default_factory=set)

    @property
    def block(self) -> int:
        return self.runtime.settings.summary_block

    # -- one Triton call ---------------------------------------------------------------------

    async def _generate(self, prompts: list[str]) -> SummaryResult:
        with metrics.SUMMARY_CALL_SECONDS.time():
            return await self.client.summarize(prompts)

    async def _save(
        self, work: SummaryWork, text: str, prompt: str, mode: str, result: SummaryResult
    ) -> SummaryRow | None:
        saved = await self.runtime.store.run(
            lambda s: s.save_summary(
                work,
                text,
                mode=mode,
                model_name=result.model_name,
                model_version=result.model_version,
                latency_ms=result.latency_ms,
                prompt=prompt,
            )
        )
        if saved is None:
            log.info("summary update discarded: the chain or its interactions changed meanwhile")
        else:
            metrics.SUMMARIES_WRITTEN.labels(mode=mode).inc()
            self.runtime.wake_recommender()
        return saved

    async def update(self, works: Sequence[SummaryWork], mode: str = "recurrent") -> list[SummaryRow | None]:
        """One recurrent update per work item, all in one batched Triton call."""
        prompts = [
            recurrent_prompt(w.previous.summary if w.previous else None, w.entries, self.prompt_config)
            for w in works
        ]
        result = await self._generate(prompts)
        return [
            await self._save(w, text, prompt, mode, result)
            for w, text, prompt in zip(works, result.texts, prompts, strict=True)
        ]

    # -- the background loop -------------------------------------------------------------------

    async def step(self) -> int:
        """Summarize the next block(s) of up to ``summary_batch`` users; returns versions written."""
        settings = self.runtime.settings
        store = self.runtime.store
        claimed = set(self.claimed)
        users = await store.run(
            lambda s: s.users_with_pending_blocks(self.block, settings.summary_batch, exclude=claimed)
        )
        works: list[SummaryWork] = []
        for user_id, pending in users:
            pending_blocks = pending // self.block
            blocks = (
                1
                if pending_blocks <= settings.summary_fold_after
                else min(pending_blocks, settings.summary_max_fold)
            )
            work = await store.run(lambda s, u=user_id, b=blocks: s.summary_work(u, self.block, b))  # type: ignore[misc]
            if work is not None:
                works.append(work)
        if not works:
            return 0
        saved = await self.update(works)
        return sum(row is not None for row in saved)

    async def run_forever(self, app: faust.App) -> None:
        wakeup = self.runtime.summary_wakeup
        backoff = 1.0
        while not app.should_stop:
            wakeup.clear()
            try:
                written = await self.step()
                backoff = 1.0
            except asyncio.CancelledError:
                raise
            except ServingError as exc:
                log.warning("summarizer unavailable (%s); retrying in %.0fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            except Exception:
                log.exception("summary step failed")
                await asyncio.sleep(backoff)
                continue
            metrics.SUMMARY_BACKLOG.set(
                await self.runtime.store.run(lambda s: s.pending_summary_blocks(self.block))
            )
            if written:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), timeout=2.0)

    # -- exclusive work: deletion rebuilds and backfills -------------------------------------

    async def rebuild(self, user_id: str) -> int:
        """Re-run the chain block by block (never folded) after a partial deletion.

        Block-by-block is what makes the rebuilt chain equal to summarizing the retained
        interactions from scratch. The caller has claimed the user.
        """
        written = 0
        while True:
            work = await self.runtime.store.run(lambda s: s.summary_work(user_id, self.block, 1))
            if work is None:
                return written
            rows = await self.update([work], mode="rebuild")
            if rows[0] is None:
                return written
            written += 1

    async def _recurrent_backfill(self, users: list[str], job: BackfillJob) -> None:
        active = list(users)
        while active:
            works = []
            for user_id in active:
                work = await self.runtime.store.run(lambda s, u=user_id: s.summary_work(u, self.block, 1))  # type: ignore[misc]
                if work is not None:
                    works.append(work)
            done = set(active) - {w.user_id for w in works}
            job.users_done += len(done)
            active = [w.user_id for w in works]
            for start in range(0, len(works), self.runtime.settings.summary_batch):
                rows = await self.update(
                    works[start : start + self.runtime.settings.summary_batch], mode="recurrent"
                )
                job.versions_written += sum(r is not None for r in rows)

    async def _generate_all(self, prompts: list[str]) -> tuple[list[str], SummaryResult | None]:
        """Any number of prompts, in Triton calls of ``summary_batch``."""
        texts: list[str] = []
        result: SummaryResult | None = None
        batch = self.runtime.settings.summary_batch
        for start in range(0, len(prompts), batch):
            result = await self._generate(prompts[start : start + batch])
            texts.extend(result.texts)
        return texts, result

    async def _hierarchical_backfill(self, users: list[str], job: BackfillJob) -> None:
        batch = self.runtime.settings.summary_batch
        for start in range(0, len(users), batch):
            group = users[start : start + batch]
            works: list[SummaryWork] = []
            for user_id in group:
                work = await self.runtime.store.run(lambda s, u=user_id: s.summary_work(u, self.block, 10**9))  # type: ignore[misc]
                if work is not None:
                    works.append(work)
            # 1. Summarize every block of every user independently, in batched calls.
            pieces = [
                (w.user_id, w.entries[i * self.block : (i + 1) * self.block])
                for w in works
                for i in range(w.blocks)
            ]
            texts, result = await self._generate_all(
                [recurrent_prompt(None, entries, self.prompt_config) for _, entries in pieces]
            )
            # 2. Merge each user's summaries (previous version first, if any) in groups of
            #    MERGE_GROUP until one is left: a tree, so prompts stay bounded. ``levels`` holds
            #    (text, the prompt that produced it) for provenance.
            levels: dict[str, list[tuple[str, str]]] = {
                w.user_id: [(w.previous.summary, "")] if w.previous else [] for w in works
            }
            for (user_id, entries), text in zip(pieces, texts, strict=True):
                levels[user_id].append((text, recurrent_prompt(None, entries, self.prompt_config)))
            while any(len(v) > 1 for v in levels.values()):
                groups = [
                    (user_id, v[i : i + MERGE_GROUP])
                    for user_id, v in levels.items()
                    if len(v) > 1
                    for i in range(0, len(v), MERGE_GROUP)
                ]
                prompts = [
                    merge_prompt([t for t, _ in part], self.prompt_config)
                    for _, part in groups
                    if len(part) > 1
                ]
                merged, merge_result = await self._generate_all(prompts)
                result = merge_result or result
                outputs = iter(zip(merged, prompts, strict=True))
                next_levels: dict[str, list[tuple[str, str]]] = {user_id: [] for user_id, _ in groups}
                for user_id, part in groups:
                    next_levels[user_id].append(next(outputs) if len(part) > 1 else part[0])
                levels.update(next_levels)
            if result is not None:
                for work in works:
                    text, prompt = levels[work.user_id][0]
                    saved = await self._save(work, text, prompt, "hierarchical", result)
                    job.versions_written += saved is not None
            job.users_done += len(group)

    def start_backfill(self, mode: Mode, users: list[str] | None) -> BackfillJob:
        job = BackfillJob(job_id=uuid.uuid4().hex[:12], mode=mode)
        self.jobs[job.job_id] = job

        async def run() -> None:
            selected = users
            if selected is None:
                selected = [
                    u
                    for u, _ in await self.runtime.store.run(
                        lambda s: s.users_with_pending_blocks(self.block, 10**9)
                    )
                ]
            job.users_total = len(selected)
            self.claimed.update(selected)
            try:
                if mode == "hierarchical":
                    await self._hierarchical_backfill(selected, job)
                else:
                    await self._recurrent_backfill(selected, job)
                job.state = "done"
            except Exception as exc:  # reported to the caller through the job
                log.exception("backfill %s failed", job.job_id)
                job.state, job.error = "failed", str(exc)
            finally:
                self.claimed.difference_update(selected)
                job.finished_at = time.time()

        task = asyncio.ensure_future(run())
        # Keep a reference: the event loop holds only weak references to tasks.
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job


def register(app: faust.App, runtime: Runtime) -> None:
    settings = runtime.settings
    if settings.summary_block <= 0:
        log.info("summaries disabled (STREAMREC_SUMMARY_BLOCK=0)")
        return
    service = Summaries(
        runtime=runtime, client=SummarizerClient(settings.triton_grpc, timeout_s=settings.summary_timeout_s)
    )
    runtime.summaries = service

    if not settings.summary_live:
        log.info("live summary updates off (STREAMREC_SUMMARY_LIVE=false): backfills and rebuilds only")
        return

    @app.task
    async def summarize_loop() -> None:
        await service.run_forever(app)
