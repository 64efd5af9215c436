"""Backfill jobs: summarize users' pending history now, recurrently or hierarchically.

A bulk import (``STREAMREC_SUMMARY_LIVE=false``) leaves long histories unsummarized; ``streamrec
summarize --backfill`` starts a job here through the worker's ``/summaries/backfill/`` page.

* **Recurrent**: the live paradigm, block after block, many users per Triton call.
* **Hierarchical** (the paper's other paradigm): summarize each block independently, then
  merge the block summaries in groups of ``MERGE_GROUP``, as a tree, into one version, so
  prompts stay bounded however long the history is.

A job claims its users for its whole run, so the live loop never races it into a different
(folded) chain.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from models.summary_prompts import merge_prompt, recurrent_prompt
from serving.summarizer_client import SummaryResult
from streams.agents.summarize import Summaries
from streams.store import SummaryWork

__all__ = ["MERGE_GROUP", "BackfillJob", "Backfills", "Mode"]

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
class Backfills:
    """Starts backfill jobs and keeps their progress for the status page."""

    summaries: Summaries
    jobs: dict[str, BackfillJob] = field(default_factory=dict)
    _tasks: set[asyncio.Future[None]] = field(default_factory=set)

    @property
    def _batch(self) -> int:
        return self.summaries.runtime.settings.summary_batch

    async def _work(self, user_id: str, max_blocks: int) -> SummaryWork | None:
        """The user's next ``max_blocks`` complete blocks after their latest version."""
        block = self.summaries.block
        return await self.summaries.runtime.store.run(lambda s: s.summaries.work(user_id, block, max_blocks))

    async def _recurrent(self, users: list[str], job: BackfillJob) -> None:
        active = list(users)
        while active:
            works: list[SummaryWork] = []
            for user_id in active:
                work = await self._work(user_id, 1)
                if work is not None:
                    works.append(work)
            done = set(active) - {w.user_id for w in works}
            job.users_done += len(done)
            active = [w.user_id for w in works]
            for start in range(0, len(works), self._batch):
                rows = await self.summaries.update(works[start : start + self._batch], mode="recurrent")
                job.versions_written += sum(r is not None for r in rows)

    async def _generate_all(self, prompts: list[str]) -> tuple[list[str], SummaryResult | None]:
        """Any number of prompts, in Triton calls of ``summary_batch``."""
        texts: list[str] = []
        result: SummaryResult | None = None
        batch = self._batch
        for start in range(0, len(prompts), batch):
            result = await self.summaries.generate(prompts[start : start + batch])
            texts.extend(result.texts)
        return texts, result

    async def _hierarchical(self, users: list[str], job: BackfillJob) -> None:
        batch, block = self._batch, self.summaries.block
        for start in range(0, len(users), batch):
            group = users[start : start + batch]
            works: list[SummaryWork] = []
            for user_id in group:
                work = await self._work(user_id, 10**9)
                if work is not None:
                    works.append(work)
            # 1. Summarize every block of every user independently, in batched calls.
            pieces = [
                (w.user_id, w.entries[i * block : (i + 1) * block]) for w in works for i in range(w.blocks)
            ]
            texts, result = await self._generate_all(
                [recurrent_prompt(None, entries, self.summaries.prompt_config) for _, entries in pieces]
            )
            # 2. Merge each user's summaries (previous version first, if any) in groups of
            #    MERGE_GROUP until one is left: a tree, so prompts stay bounded. ``levels`` holds
            #    (text, the prompt that produced it) for provenance.
            levels: dict[str, list[tuple[str, str]]] = {
                w.user_id: [(w.previous.summary, "")] if w.previous else [] for w in works
            }
            for (user_id, entries), text in zip(pieces, texts, strict=True):
                levels[user_id].append((text, recurrent_prompt(None, entries, self.summaries.prompt_config)))
            while any(len(v) > 1 for v in levels.values()):
                groups = [
                    (user_id, v[i : i + MERGE_GROUP])
                    for user_id, v in levels.items()
                    if len(v) > 1
                    for i in range(0, len(v), MERGE_GROUP)
                ]
                prompts = [
                    merge_prompt([t for t, _ in part], self.summaries.prompt_config)
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
                    saved = await self.summaries.save(work, text, prompt, "hierarchical", result)
                    job.versions_written += saved is not None
            job.users_done += len(group)

    def start(self, mode: Mode, users: list[str] | None) -> BackfillJob:
        job = BackfillJob(job_id=uuid.uuid4().hex[:12], mode=mode)
        self.jobs[job.job_id] = job

        async def run() -> None:
            selected = users
            if selected is None:
                selected = [
                    u
                    for u, _ in await self.summaries.runtime.store.run(
                        lambda s: s.summaries.users_with_pending_blocks(self.summaries.block, 10**9)
                    )
                ]
            job.users_total = len(selected)
            self.summaries.claimed.update(selected)
            try:
                if mode == "hierarchical":
                    await self._hierarchical(selected, job)
                else:
                    await self._recurrent(selected, job)
                job.state = "done"
            except Exception as exc:  # reported to the caller through the job
                log.exception("backfill %s failed", job.job_id)
                job.state, job.error = "failed", str(exc)
            finally:
                self.summaries.claimed.difference_update(selected)
                job.finished_at = time.time()

        task = asyncio.ensure_future(run())
        # Keep a reference: the event loop holds only weak references to tasks.
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job
