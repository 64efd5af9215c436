"""The recommend task: pending users -> candidates -> Triton yes/no scores -> ``recommendations``.

Decoupled from ingestion through the durable ``rec_pending`` table: ingestion upserts one row
per user pointing at their newest event, and this loop answers it. A burst of clicks from one
user therefore coalesces into one scoring call ("latest wins"), ingestion never waits on the
LLM, and a restart resumes the users that were still waiting.

A pending mark is cleared only if it still points at the event we answered; if newer clicks
arrived while we scored, the user stays pending and is scored again with the new history.

If Triton is unreachable the call is retried with exponential backoff; after that the user
gets a popularity ranking marked ``fallback: true``, and a short circuit breaker sends the
next users straight to the fallback instead of making each of them wait through the retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from functools import partial

import faust
import numpy as np

from models.prompts import PromptConfig, build_candidate, build_context
from serving.client import RecommenderClient, ScoreResult
from serving.exceptions import ScoringRejected, ServingError
from streams import metrics
from streams.agents.runtime import Runtime, Topics
from streams.agents.served_set import ServedSetGuard
from streams.contracts import SCHEMA_VERSION, ModelRef, Recommendation, RecommendedItem
from streams.delivery import send_and_wait
from streams.store import Candidate, PendingRecommendation, Store

__all__ = ["register", "rank", "Recommender"]

log = logging.getLogger(__name__)

FALLBACK_MODEL = ModelRef(name="popularity", version="1")
BREAKER_COOLDOWN_S = 10.0  # after a user fell back, skip Triton for this long
RETRY_FAILED_USER_S = 5.0  # a user whose answer raised waits this long before a retry


def rank(candidates: list[Candidate], scores: np.ndarray, k: int) -> list[RecommendedItem]:
    """Top-k by score; ties keep retrieval order (a stable sort), so ranking is deterministic."""
    order = sorted(range(len(candidates)), key=lambda i: -float(scores[i]))
    return [
        RecommendedItem(item_id=candidates[i].item.item_id, score=float(scores[i]), rank=r)
        for r, i in enumerate(order[:k], start=1)
    ]


def popularity_scores(candidates: list[Candidate]) -> np.ndarray:
    """Fallback scores in [0, 1]: mostly recent popularity (0.9), blended with co-occurrence (0.1)
    so that, among similarly popular items, the ones related to the user's history come first."""
    pop = np.array([c.popularity for c in candidates], dtype=np.float64)
    co = np.array([c.cooccurrence for c in candidates], dtype=np.float64)
    pop = pop / pop.max() if pop.max() > 0 else pop
    co = co / co.max() if co.max() > 0 else co
    return (0.9 * pop + 0.1 * co).astype(np.float32)


def _log_served(store: Store, version: str) -> int:
    return store.trail.log_served(version)


@dataclass
class Recommender:
    runtime: Runtime
    topics: Topics
    client: RecommenderClient
    prompt_config: PromptConfig
    breaker_open_until: float = 0.0
    guard: ServedSetGuard = field(init=False)

    def __post_init__(self) -> None:
        self.guard = ServedSetGuard(self.runtime)

    async def score(
        self, context: str, texts: list[str], context_items: list[str], excluded: frozenset[int] = frozenset()
    ) -> ScoreResult | None:
        """Score through Triton with retries; None means "use the fallback"."""
        settings = self.runtime.settings
        if time.monotonic() < self.breaker_open_until:
            return None
        delay = settings.score_backoff_s
        for attempt in range(settings.score_retries + 1):
            try:
                with metrics.SCORE_SECONDS.time():
                    return await self.client.score(context, texts, context_items, sorted(excluded))
            except ScoringRejected as exc:
                # The request itself is invalid; retrying it cannot help. Fall back for this
                # user only (the breaker stays closed: Triton is healthy).
                log.error("Triton rejected the scoring request: %s", exc)
                return None
            except ServingError as exc:
                metrics.SCORE_FAILURES.inc()
                log.warning("scoring attempt %d failed: %s", attempt + 1, exc)
                if attempt < settings.score_retries:
                    await asyncio.sleep(delay)
                    delay *= 2
        self.breaker_open_until = time.monotonic() + BREAKER_COOLDOWN_S
        return None

    async def score_clean(
        self, context: str, texts: list[str], context_items: list[str]
    ) -> ScoreResult | None:
        """Score without any dirty shard, even one marked while the request was in flight.

        The dirty marks are read before the call and again after it. A purge that committed in
        between (its ``purged`` may already be out) is caught by the second read, and so is a
        set that Triton switched to and that holds data purged after its export (``guard``): if
        the answer gave such a shard any weight, it is thrown away and the request scored again.
        """
        store = self.runtime.store
        excluded = await store.run(lambda s: s.dirty.excluded())
        for _ in range(3):
            result = await self.score(context, texts, context_items, excluded)
            if result is None:
                return None
            try:
                await self.guard.check(result.adapter_set)  # a set new to us: deletions it may hold
            except (OSError, ValueError, KeyError):
                log.exception("adapter set %s cannot be checked against deletions", result.adapter_set)
                return None  # unprovable: the popularity fallback uses no adapter
            now = await store.run(lambda s: s.dirty.excluded())
            metrics.DIRTY_SHARDS.set(len(now))
            used = {k for k, w in enumerate(result.shard_weights) if w > 0}
            if not used & now:
                await store.run(partial(_log_served, version=result.adapter_set))  # the audit's last step
                return result
            log.info("a shard was marked dirty while scoring; scoring again without it")
            excluded = now
        return None  # marks keep changing under us: the popularity fallback uses no adapter

    async def answer(self, pending: PendingRecommendation) -> Recommendation | None:
        """Build, publish and acknowledge one user's recommendation."""
        started = time.perf_counter()
        settings = self.runtime.settings
        store = self.runtime.store
        user_id = pending.user_id
        window_ms = int(settings.popularity_window_days * 86_400_000)
        history = await store.run(lambda s: s.retrieval.history(user_id, settings.recent_items))
        summary = await store.run(lambda s: s.summaries.latest(user_id))
        candidates = await store.run(
            lambda s: s.retrieval.candidates(user_id, settings.candidates, popularity_window_ms=window_ms)
        )
        if not candidates:
            # Nothing to rank (empty catalog, or the user has seen everything). The next
            # click of the user marks them pending again.
            log.info("no candidates for a pending user; nothing published")
            await store.run(lambda s: s.pending.clear(user_id, pending.trigger_event_id))
            return None
        result = await self.score_clean(
            build_context(history, self.prompt_config, summary=summary.summary if summary else None),
            [build_candidate(c.item, self.prompt_config) for c in candidates],
            # The items the prompt shows choose the adapter weights (APA).
            [entry.item.item_id for entry in history[-self.prompt_config.max_recent :]],
        )
        if result is not None:
            scores, model, fallback = (
                result.probabilities,
                # version: the adapter set that scored ("zero-shot" without one).
                ModelRef(name=result.model_name, version=result.adapter_set),
                False,
            )
        else:
            scores, model, fallback = popularity_scores(candidates), FALLBACK_MODEL, True
        if not await store.run(lambda s: s.retrieval.has_interactions(user_id)):
            # The user was deleted while we scored: publish nothing about them.
            await store.run(lambda s: s.pending.clear(user_id, pending.trigger_event_id))
            return None
        latency_ms = (time.perf_counter() - started) * 1000
        recommendation = Recommendation(
            schema_version=SCHEMA_VERSION,
            user_id=user_id,
            items=rank(candidates, scores, settings.top_k),
            model=model,
            trigger_event_id=pending.trigger_event_id,
            generated_at=int(time.time() * 1000),
            latency_ms=round(latency_ms, 3),
            fallback=fallback,
            summary_version=summary.version if summary is not None and not fallback else None,
        )
        await send_and_wait(self.topics.recommendations, user_id, recommendation)
        if result is not None:
            for shard, weight in enumerate(result.shard_weights):
                if weight > 0:
                    metrics.SHARD_USES.labels(adapter_set=result.adapter_set, shard=str(shard)).inc()
        await store.run(lambda s: s.pending.clear(user_id, pending.trigger_event_id))
        metrics.RECOMMENDATIONS.labels(fallback=str(fallback).lower()).inc()
        metrics.RECOMMEND_SECONDS.observe(time.perf_counter() - started)
        return recommendation

    async def run_forever(self, app: faust.App) -> None:
        """Answer pending users until the worker stops; wakes on new clicks or every second."""
        wakeup = self.runtime.recommend_wakeup
        store = self.runtime.store
        limit = max(8, 4 * self.runtime.settings.score_concurrency)
        semaphore = asyncio.Semaphore(self.runtime.settings.score_concurrency)
        retry_after: dict[str, float] = {}

        async def guarded(pending: PendingRecommendation) -> None:
            async with semaphore:
                try:
                    await self.answer(pending)
                    retry_after.pop(pending.user_id, None)
                except asyncio.CancelledError:
                    raise
                except Exception:  # one user's failure must not stop the loop
                    log.exception("recommendation failed; the user stays pending")
                    retry_after[pending.user_id] = time.monotonic() + RETRY_FAILED_USER_S
                    # Move the user to the back of the queue so others are not starved.
                    await store.run(lambda s: s.pending.defer(pending.user_id))

        while not app.should_stop:
            wakeup.clear()
            metrics.PENDING_USERS.set(await store.run(lambda s: s.pending.count()))
            pending = await store.run(lambda s: s.pending.due(limit))
            now = time.monotonic()
            ready = [p for p in pending if retry_after.get(p.user_id, 0.0) <= now]
            if ready:
                await asyncio.gather(*(guarded(p) for p in ready))
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), timeout=1.0)


def register(app: faust.App, runtime: Runtime, topics: Topics) -> None:
    settings = runtime.settings
    recommender = Recommender(
        runtime=runtime,
        topics=topics,
        client=RecommenderClient(settings.triton_grpc, timeout_s=settings.score_timeout_s),
        prompt_config=PromptConfig(max_recent=settings.recent_items),
    )

    @app.task
    async def recommend_loop() -> None:
        await recommender.run_forever(app)
