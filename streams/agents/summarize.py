"""Recurrent preference summaries in the stream (LLM-TRSR): the live update task.

Every B new interactions of a user form a block, and ``summary_k = LLM(summary_{k-1}, block_k)``
(``summary_1 = LLM(block_1)``). The chain lives in DuckDB (``streams.store.summaries``); this
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

Backfills of long histories (recurrent or hierarchical) run as jobs in
``streams.agents.backfill`` and use this service's calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import faust

from models.summary_prompts import SummaryPromptConfig, recurrent_prompt
from serving.exceptions import ServingError
from serving.summarizer_client import SummarizerClient, SummaryResult
from streams import metrics
from streams.agents.runtime import Runtime
from streams.store import SummaryRow, SummaryWork

__all__ = ["Summaries", "build_service", "register"]

log = logging.getLogger(__name__)


@dataclass
class Summaries:
    runtime: Runtime
    client: SummarizerClient
    prompt_config: SummaryPromptConfig = field(default_factory=SummaryPromptConfig)
    claimed: set[str] = field(default_factory=set)  # users owned by a rebuild or backfill

    @property
    def block(self) -> int:
        return self.runtime.settings.summary_block

    # -- one Triton call ---------------------------------------------------------------------

    async def generate(self, prompts: list[str]) -> SummaryResult:
        with metrics.SUMMARY_CALL_SECONDS.time():
            return await self.client.summarize(prompts)

    async def save(
        self, work: SummaryWork, text: str, prompt: str, mode: str, result: SummaryResult
    ) -> SummaryRow | None:
        saved = await self.runtime.store.run(
            lambda s: s.summaries.save(
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
        result = await self.generate(prompts)
        return [
            await self.save(w, text, prompt, mode, result)
            for w, text, prompt in zip(works, result.texts, prompts, strict=True)
        ]

    # -- the background loop -------------------------------------------------------------------

    async def step(self) -> int:
        """Summarize the next block(s) of up to ``summary_batch`` users; returns versions written."""
        settings = self.runtime.settings
        store = self.runtime.store
        claimed = set(self.claimed)
        users = await store.run(
            lambda s: s.summaries.users_with_pending_blocks(
                self.block, settings.summary_batch, exclude=claimed
            )
        )
        works: list[SummaryWork] = []
        for user_id, pending in users:
            pending_blocks = pending // self.block
            blocks = (
                1
                if pending_blocks <= settings.summary_fold_after
                else min(pending_blocks, settings.summary_max_fold)
            )
            work = await store.run(lambda s, u=user_id, b=blocks: s.summaries.work(u, self.block, b))  # type: ignore[misc]
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
                await self.runtime.store.run(lambda s: s.summaries.backlog_blocks(self.block))
            )
            if written:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), timeout=2.0)

    # -- exclusive work: deletion rebuilds ----------------------------------------------------

    async def rebuild(self, user_id: str) -> int:
        """Re-run the chain block by block (never folded) after a partial deletion.

        Block-by-block is what makes the rebuilt chain equal to summarizing the retained
        interactions from scratch. The caller has claimed the user.
        """
        written = 0
        while True:
            work = await self.runtime.store.run(lambda s: s.summaries.work(user_id, self.block, 1))
            if work is None:
                return written
            rows = await self.update([work], mode="rebuild")
            if rows[0] is None:
                return written
            written += 1


def build_service(runtime: Runtime) -> Summaries | None:
    """The worker's summary service, or None when summaries are off (``STREAMREC_SUMMARY_BLOCK=0``)."""
    settings = runtime.settings
    if settings.summary_block <= 0:
        log.info("summaries disabled (STREAMREC_SUMMARY_BLOCK=0)")
        return None
    return Summaries(
        runtime=runtime, client=SummarizerClient(settings.triton_grpc, timeout_s=settings.summary_timeout_s)
    )


def register(app: faust.App, service: Summaries | None) -> None:
    """Run the live update loop, unless summaries are off or live updates are disabled."""
    if service is None:
        return
    if not service.runtime.settings.summary_live:
        log.info("live summary updates off (STREAMREC_SUMMARY_LIVE=false): backfills and rebuilds only")
        return

    @app.task
    async def summarize_loop() -> None:
        await service.run_forever(app)
