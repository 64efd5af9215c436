"""The recommend task: pending users -> candidates -> Triton yes/no scores -> ``recommendations``.

Decoupled from ingestion through the durable ``rec_pending`` table: ingestion upserts one row
per user pointing at their newest event, and this loop answers it. A burst of clicks from one
user therefore coalesces into one scoring call ("latest wins"), ingestion never waits on the
LLM, and a restart resumes the users that were still waiting.

A pending mark is cleared only if it still points at the event we answered; if newer clicks
arrived while we scored, the user stays pending and is scored again with the new history.

**Lanes and batches.** The queue has a live lane and a backfill lane (``streams.store.pending``):
a user who clicks now is answered before the thousands a replay left behind, and the backfill
still gets every ``backfill_every``-th call while both wait; while replayed history is still
arriving the backfill lane waits (``streams.agents.lanes``). Each Triton call carries up to
``score_batch_users`` users of one lane (cross-user batching: one padded prefix pass on the
server), and a slot takes its next users the moment it frees, never after a whole round.

If Triton is unreachable the call is retried with exponential backoff; after that its users
get a popularity ranking marked ``fallback: true``, and a short circuit breaker sends the
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
from serving.client import RecommenderClient, ScoreRequest, ScoreResult
from serving.exceptions import ScoringRejected, ServingError
from streams import metrics
from streams.agents.lanes import LanePicker
from streams.agents.runtime import Runtime, Topics
from streams.agents.served_set import ServedSetGuard, adapter_set_number
from streams.contracts import SCHEMA_VERSION, ModelRef, Recommendation, RecommendedItem
from streams.delivery import send_and_wait
from streams.store import Candidate, Lane, PendingRecommendation, Store

__all__ = ["register", "rank", "Prepared", "Recommender"]

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


@dataclass(frozen=True)
class Prepared:
    """One pending user, ready to score: what retrieval found and the prompt built from it."""

    pending: PendingRecommendation
    candidates: list[Candidate]
    request: ScoreRequest
    summary_version: int | None
    started: float


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
        self, requests: list[ScoreRequest], excluded: frozenset[int] = frozenset()
    ) -> list[ScoreResult] | None:
        """Score one cross-user call through Triton with retries; None means "use the fallback"."""
        settings = self.runtime.settings
        if time.monotonic() < self.breaker_open_until:
            return None
        delay = settings.score_backoff_s
        for attempt in range(settings.score_retries + 1):
            try:
                with metrics.SCORE_SECONDS.time():
                    return await self.client.score_many(requests, sorted(excluded))
            except ScoringRejected as exc:
                # The request itself is invalid; retrying it cannot help. Fall back for these
                # users only (the breaker stays closed: Triton is healthy).
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

    async def score_clean(self, requests: list[ScoreRequest]) -> list[ScoreResult] | None:
        """Score without any dirty shard, even one marked while the request was in flight.

        The dirty marks are read before the call and again after it. A purge that committed in
        between (its ``purged`` may already be out) is caught by the second read, and so is a
        set that Triton switched to and that holds data purged after its export (``guard``): if
        any answer gave such a shard weight, the whole call is thrown away and scored again.
        """
        store = self.runtime.store
        excluded = await store.run(lambda s: s.dirty.excluded())
        for _ in range(3):
            results = await self.score(requests, excluded)
            if results is None:
                return None
            version = results[0].adapter_set  # one set answers a whole call
            try:
                await self.guard.check(version)  # a set new to us: deletions it may hold
            except (OSError, ValueError, KeyError):
                log.exception("adapter set %s cannot be checked against deletions", version)
                return None  # unprovable: the popularity fallback uses no adapter
            now = await store.run(lambda s: s.dirty.excluded())
            metrics.DIRTY_SHARDS.set(len(now))
            number = adapter_set_number(version)
            if number is not None:
                metrics.ADAPTER_SET_VERSION.set(number)
            used = {k for result in results for k, w in enumerate(result.shard_weights) if w > 0}
            if not used & now:
                served = await store.run(partial(_log_served, version=version))  # the audit's last step
                metrics.DELETIONS.labels(stage="served").inc(served)
                return results
            log.info("a shard was marked dirty while scoring; scoring again without it")
            excluded = now
        return None  # marks keep changing under us: the popularity fallback uses no adapter

    async def prepare(self, pending: PendingRecommendation) -> Prepared | None:
        """Retrieval and prompt for one user; None (and the mark cleared) when nothing can rank."""
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
        request = ScoreRequest(
            build_context(history, self.prompt_config, summary=summary.summary if summary else None),
            tuple(build_candidate(c.item, self.prompt_config) for c in candidates),
            # The items the prompt shows choose the adapter weights (APA).
            tuple(entry.item.item_id for entry in history[-self.prompt_config.max_recent :]),
        )
        return Prepared(pending, candidates, request, summary.version if summary else None, started)

    async def publish(self, prepared: Prepared, result: ScoreResult | None) -> Recommendation | None:
        """Rank, publish and acknowledge one user's recommendation (``None`` result: fallback)."""
        settings = self.runtime.settings
        store = self.runtime.store
        user_id = prepared.pending.user_id
        trigger = prepared.pending.trigger_event_id
        candidates = prepared.candidates
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
            await store.run(lambda s: s.pending.clear(user_id, trigger))
            return None
        latency_ms = (time.perf_counter() - prepared.started) * 1000
        recommendation = Recommendation(
            schema_version=SCHEMA_VERSION,
            user_id=user_id,
            items=rank(candidates, scores, settings.top_k),
            model=model,
            trigger_event_id=trigger,
            generated_at=int(time.time() * 1000),
            latency_ms=round(latency_ms, 3),
            fallback=fallback,
            summary_version=prepared.summary_version if not fallback else None,
        )
        await send_and_wait(self.topics.recommendations, user_id, recommendation)
        if result is not None:
            for shard, weight in enumerate(result.shard_weights):
                if weight > 0:
                    metrics.SHARD_USES.labels(adapter_set=result.adapter_set, shard=str(shard)).inc()
        await store.run(lambda s: s.pending.clear(user_id, trigger))
        metrics.RECOMMENDATIONS.labels(fallback=str(fallback).lower()).inc()
        metrics.RECOMMEND_SECONDS.observe(time.perf_counter() - prepared.started)
        return recommendation

    async def answer_many(self, batch: list[PendingRecommendation]) -> list[Recommendation | None]:
        """Answer several users with one Triton call (cross-user batching)."""
        prepared = [p for p in [await self.prepare(pending) for pending in batch] if p is not None]
        if not prepared:
            return []
        metrics.SCORE_BATCH_USERS.observe(len(prepared))
        results = await self.score_clean([p.request for p in prepared])
        answers: list[Recommendation | None] = []
        for index, one in enumerate(prepared):
            answers.append(await self.publish(one, None if results is None else results[index]))
        return answers

    async def answer(self, pending: PendingRecommendation) -> Recommendation | None:
        """Build, publish and acknowledge one user's recommendation."""
        answers = await self.answer_many([pending])
        return answers[0] if answers else None

    async def next_batch(
        self, picker: LanePicker, skip: set[str]
    ) -> tuple[Lane | None, list[PendingRecommendation]]:
        """The users of the next call: up to M of one lane, skipping those in flight or resting."""
        settings = self.runtime.settings
        lag_ms = int(settings.live_lag_s * 1000)
        size = settings.score_batch_users

        def read(store: Store) -> tuple[list[PendingRecommendation], list[PendingRecommendation]]:
            return store.pending.lane("live", size, lag_ms, skip), store.pending.lane(
                "backfill", size, lag_ms, skip
            )

        live, backfill = await self.runtime.store.run(read)
        hold, now = self.runtime.backfill_hold, time.monotonic()
        admitted = hold.admits_backfill(now)
        metrics.BACKFILL_HELD.set(0 if admitted else 1)
        lane = picker.choose(bool(live), bool(backfill) and admitted)
        if lane == "backfill":
            hold.served_backfill(now)
        return lane, (live if lane == "live" else backfill if lane == "backfill" else [])

    async def observe_queue(self) -> None:
        """The queue gauges, and the dirty shards (so they are right from start-up, not only
        from the first Triton answer), in one store call before each scoring call."""
        lag_ms = int(self.runtime.settings.live_lag_s * 1000)
        stats, dirty = await self.runtime.store.run(lambda s: (s.pending.stats(lag_ms), s.dirty.excluded()))
        metrics.DIRTY_SHARDS.set(len(dirty))
        metrics.PENDING_USERS.set(sum(lane.users for lane in stats.values()))
        for lane, figures in stats.items():
            metrics.PENDING_LANE_USERS.labels(lane=lane).set(figures.users)
            metrics.PENDING_OLDEST_WAIT.labels(lane=lane).set(figures.oldest_wait_ms / 1000)

    async def run_forever(self, app: faust.App) -> None:
        """Answer pending users until the worker stops; wakes on new clicks or every second.

        Each of ``score_concurrency`` slots takes the next call's users the moment it frees,
        so a live user who clicks during a backfill waits for at most the calls in flight.
        """
        wakeup = self.runtime.recommend_wakeup
        store = self.runtime.store
        slots = asyncio.Semaphore(self.runtime.settings.score_concurrency)
        picker = LanePicker(self.runtime.settings.backfill_every)
        in_flight: set[str] = set()
        retry_after: dict[str, float] = {}
        tasks: set[asyncio.Task[None]] = set()

        async def serve(batch: list[PendingRecommendation]) -> None:
            try:
                await self.answer_many(batch)
                for pending in batch:
                    retry_after.pop(pending.user_id, None)
            except asyncio.CancelledError:
                raise
            except Exception:  # one call's failure must not stop the loop
                log.exception("recommendation failed; the users stay pending")
                for pending in batch:
                    retry_after[pending.user_id] = time.monotonic() + RETRY_FAILED_USER_S
                    # Move the user to the back of the lane so others are not starved.
                    await store.run(partial(_defer, user_id=pending.user_id))
            finally:
                in_flight.difference_update(p.user_id for p in batch)
                slots.release()
                wakeup.set()  # a slot is free: look at the queue again

        try:
            while not app.should_stop:
                await slots.acquire()
                wakeup.clear()
                await self.observe_queue()
                now = time.monotonic()
                for user, until in list(retry_after.items()):
                    if until <= now:
                        del retry_after[user]
                lane, batch = await self.next_batch(picker, in_flight | set(retry_after))
                if not batch:
                    slots.release()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wakeup.wait(), timeout=1.0)
                    continue
                in_flight.update(p.user_id for p in batch)
                metrics.SCORE_CALLS.labels(lane=str(lane)).inc()
                task = asyncio.create_task(serve(batch))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        finally:
            for task in tasks:
                task.cancel()


def _defer(store: Store, user_id: str) -> None:
    store.pending.defer(user_id)


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
