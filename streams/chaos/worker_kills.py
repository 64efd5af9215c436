"""Scenario 1: SIGKILL the worker again and again during a MovieLens replay; verify every record.

Like Kafka Streams' EOS system tests: a paced replay of N MovieLens clicks (user ids prefixed,
see ``movielens_stream``) with a few whole-user deletions ("streamrec forget") interleaved,
while the worker is SIGKILLed K times at seeded moments and restarted each time. Then:

1. **Every click, once.** The stored interactions equal the expected set, field by field
   (event id, user, item, type, rating, time) and per user. The expected set is the clean run
   computed from what was published: every published click minus the clicks of the users
   deleted during the run (their MovieLens events are older than the request, so the
   tombstone drops even those published after it). No event id twice.
2. **Every user answered.** Each kept user's final recommendation (the last one an outside
   reader sees on ``recommendations``) answers their last click; nobody is pending.
3. **Every deletion kept.** Each request reached ``purged`` (no ``failed``); the user's id is
   in no row of any table (``Audit.rows_mentioning``); no recommendation for them was
   generated after their ``purged``.

Retraining after a deletion needs a served adapter set and the trainer; that is scenario 5
(``trainer_kills``), kept apart so this one stays about the worker and runs at MovieLens size.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from streams.chaos.harness import (
    ChaosStack,
    PacedPublisher,
    ScenarioResult,
    TopicLog,
    last_by_user,
    movielens_stream,
    seeded_gaps,
    wait_for,
)
from streams.contracts import (
    CLICKS,
    DEAD_LETTERS,
    DELETION_STATUS,
    DELETIONS,
    ITEMS,
    RECOMMENDATIONS,
    SCHEMA_VERSION,
    Click,
    Deletion,
)
from streams.kafka import ContractProducer
from streams.store import Store

__all__ = ["WorkerKillsConfig", "run"]

NAME = "repeated worker kills"


@dataclass(frozen=True)
class WorkerKillsConfig:
    movielens: Path
    clicks: int = 100_000
    kills: int = 5
    deletions: int = 3
    # Paced so the kills land while clicks flow: 100k at 600/s is 167 s of publishing, about
    # what 5 kills take (a restart waits ~10 s for the dead member's session to expire).
    rate: float = 600.0
    # Seeded wait after each (re)start before the next kill: short ones hit a worker that is
    # still catching up on the backlog its predecessor left, long ones a worker in full flow.
    gap_low_s: float = 2.0
    gap_high_s: float = 12.0
    seed: int = 0
    drain_timeout_s: float = 900.0
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("clicks", "kills", "deletions"):
            if getattr(self, name) < 0:
                raise ValueError(f"WorkerKillsConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.clicks == 0:
            raise ValueError("WorkerKillsConfig.clicks must be > 0")
        if self.rate <= 0:
            raise ValueError(f"WorkerKillsConfig.rate must be > 0 clicks/s, got {self.rate}")
        if not 0 <= self.gap_low_s <= self.gap_high_s:
            raise ValueError(
                "WorkerKillsConfig needs 0 <= gap_low_s <= gap_high_s, "
                f"got {self.gap_low_s}, {self.gap_high_s}"
            )
        if self.drain_timeout_s <= 0:
            raise ValueError(f"WorkerKillsConfig.drain_timeout_s must be > 0, got {self.drain_timeout_s}")


def _plan_deletions(rng: random.Random, clicks: list[Click], count: int) -> list[tuple[int, Deletion]]:
    """``count`` users (seeded, with at least 3 clicks) and the stream position of each request."""
    per_user: dict[str, int] = {}
    for click in clicks:
        per_user[click.user_id] = per_user.get(click.user_id, 0) + 1
    eligible = sorted(u for u, n in per_user.items() if n >= 3)
    victims = rng.sample(eligible, min(count, len(eligible)))
    positions = sorted(rng.randint(len(clicks) // 5, len(clicks) * 9 // 10) for _ in victims)
    now = int(time.time() * 1000)
    return [
        (
            position,
            Deletion(
                schema_version=SCHEMA_VERSION,
                request_id=f"chaos-forget-{n}",
                user_id=user,
                requested_at=now,
            ),
        )
        for n, (position, user) in enumerate(zip(positions, victims, strict=True))
    ]


def _stored(worker: Any) -> tuple[int, int] | None:
    """(interactions, pending users) from the worker's status page, None while it cannot answer."""
    try:
        status = worker.status(timeout_s=5)
    except OSError:
        return None
    return int(status["tables"]["interactions"]), int(status["pending_users"])


def _applied(worker: Any) -> int | None:
    """Clicks records the worker has applied (stored, dropped or dead-lettered): the sum of the
    offsets DuckDB stored with them, None while it cannot answer."""
    try:
        status = worker.status(timeout_s=5)
    except OSError:
        return None
    return sum(int(offset) for offset in status["offsets"].get(CLICKS, {}).values())


def run(stack: ChaosStack, config: WorkerKillsConfig) -> ScenarioResult:
    result = ScenarioResult(1, NAME)
    rng = random.Random(config.seed)
    items, clicks = movielens_stream(config.movielens, config.clicks)
    planned = _plan_deletions(rng, clicks, config.deletions)
    deleted = {d.user_id: d for _, d in planned}
    records: list[tuple[str, str, Any]] = []
    by_position = dict(planned)
    for index, click in enumerate(clicks):
        if index in by_position:
            records.append((DELETIONS, by_position[index].user_id, by_position[index]))
        records.append((CLICKS, click.user_id, click))
    expected = {
        str(c.event_id): (c.user_id, c.item_id, c.event_type, c.rating, c.ts)
        for c in clicks
        if c.user_id not in deleted
    }
    last_click: dict[str, str] = {c.user_id: str(c.event_id) for c in clicks if c.user_id not in deleted}
    # clicks_upto[i]: clicks among the first i records, so a kill's backlog (clicks published and
    # not yet applied) is exact however the deletions fall.
    clicks_upto = [0]
    for topic, _key, _value in records:
        clicks_upto.append(clicks_upto[-1] + (topic == CLICKS))
    gaps = seeded_gaps(rng, config.kills, config.gap_low_s, config.gap_high_s)
    result.figures.update(
        clicks=len(clicks),
        users=len({c.user_id for c in clicks}),
        deleted_users=len(deleted),
        expected_interactions=len(expected),
        rate_per_s=config.rate,
        seed=config.seed,
        clean_run="expected = every published click minus the clicks of users deleted in the run",
    )

    with stack.broker("worker-kills") as broker:
        with ContractProducer(broker.bootstrap) as producer:
            producer.send_all(ITEMS, ((i.item_id, i) for i in items), total=len(items))
        worker = stack.worker("worker-kills", broker.bootstrap)
        recs = TopicLog(broker.bootstrap, RECOMMENDATIONS).start()
        statuses = TopicLog(broker.bootstrap, DELETION_STATUS).start()
        dead = TopicLog(broker.bootstrap, DEAD_LETTERS).start()
        try:
            result.figures["first_start_s"] = round(worker.start(timeout_s=180), 1)
            t0 = time.monotonic()
            publisher = PacedPublisher(broker.bootstrap, records, config.rate, "replay", config.progress)
            publisher.start()
            kills: list[dict[str, Any]] = []
            for n, gap in enumerate(gaps, start=1):
                time.sleep(gap)
                applied = _applied(worker)
                at = time.monotonic() - t0
                published = publisher.sent
                worker.kill()
                restart = worker.start(timeout_s=240)
                kill = {
                    "kill": n,
                    "at_s": round(at, 1),
                    "gap_s": gap,
                    "published": published,
                    "applied": applied,
                    "backlog": None if applied is None else clicks_upto[published] - applied,
                    "restart_s": round(restart, 1),
                }
                kills.append(kill)
                tqdm.write(f"  kill {n}: {kill}")
            publisher.join()
            result.figures["kills"] = kills
            result.figures["publish_s"] = round((publisher.finished_at or t0) - t0, 1)
            if publisher.error is not None:
                raise RuntimeError(f"the replay failed: {publisher.error!r}")

            purged_ids = {d.request_id for d in deleted.values()}

            def drained() -> bool:
                figures = _stored(worker)
                done = {v["request_id"] for v in statuses.values() if v.get("stage") in ("purged", "failed")}
                return figures == (len(expected), 0) and purged_ids <= done

            drain_started = time.monotonic()
            caught_up = wait_for(drained, config.drain_timeout_s, 1.0)
            # From the last kill's restart (and the end of the replay) to: everything stored,
            # nobody pending, every deletion purged.
            result.figures["drain_s"] = round(time.monotonic() - drain_started, 1)
            # A kill hit a worker with work in hand: clicks published and not yet stored.
            result.figures["kills_with_backlog"] = sum(1 for k in kills if (k["backlog"] or 0) > 0)
            finals_seen = wait_for(
                lambda: all(
                    last_by_user(recs.values()).get(u, {}).get("trigger_event_id") == e
                    for u, e in last_click.items()
                ),
                60.0,
                1.0,
            )
            result.figures["caught_up"] = caught_up and finals_seen
            worker.stop(timeout_s=60)
        finally:
            worker.kill()
            for topic_log in (recs, statuses, dead):
                topic_log.stop()

    _verify(result, worker.data_dir / "streamrec.duckdb", expected, last_click, deleted, recs, statuses, dead)
    return result


def _verify(
    result: ScenarioResult,
    database: Path,
    expected: dict[str, tuple[Any, ...]],
    last_click: dict[str, str],
    deleted: dict[str, Deletion],
    recs: TopicLog,
    statuses: TopicLog,
    dead: TopicLog,
) -> None:
    store = Store(database, read_only=True)
    try:
        rows = store.audit.query(
            "SELECT event_id, user_id, item_id, event_type, rating, ts FROM interactions"
        )
        pending = store.pending.count()
        leftovers = {user: store.audit.rows_mentioning(user) for user in deleted}
    finally:
        store.close()
    stored: dict[str, tuple[Any, ...]] = {}
    duplicates = 0
    for event_id, *fields in rows:
        duplicates += event_id in stored
        stored[str(event_id)] = tuple(fields)
    missing = set(expected) - set(stored)
    extra = set(stored) - set(expected)
    changed = [e for e in set(expected) & set(stored) if _normal(stored[e]) != _normal(expected[e])]
    per_user_expected = _count_by_user(expected)
    per_user_stored = _count_by_user(stored)
    users_differing = sorted(
        u
        for u in set(per_user_expected) | set(per_user_stored)
        if per_user_expected.get(u) != per_user_stored.get(u)
    )
    result.figures.update(
        stored_interactions=len(rows),
        missing=len(missing),
        unexpected=len(extra),
        changed=len(changed),
        duplicates=duplicates,
        users_compared=len(per_user_expected),
        users_differing=len(users_differing),
    )
    result.check(
        "stored interactions equal the clean run, per user, no duplicates",
        not missing and not extra and not changed and not duplicates and not users_differing,
        f"{len(rows)} stored vs {len(expected)} expected; missing {len(missing)}, unexpected "
        f"{len(extra)}, changed {len(changed)}, duplicates {duplicates}, "
        f"users differing {len(users_differing)} of {len(per_user_expected)}"
        + (f" (e.g. {sorted(missing)[:3]} {sorted(extra)[:3]})" if missing or extra else ""),
    )
    finals = last_by_user(recs.values())
    unanswered = sorted(u for u, e in last_click.items() if finals.get(u, {}).get("trigger_event_id") != e)
    result.figures.update(recommendations=len(recs.records()), users_unanswered=len(unanswered))
    result.check(
        "every user's final recommendation answers their last click; nobody pending",
        not unanswered and pending == 0,
        f"{len(last_click) - len(unanswered)}/{len(last_click)} users answered their last click"
        f"{f' (not: {unanswered[:5]})' if unanswered else ''}; rec_pending rows {pending}",
    )
    _verify_deletions(result, deleted, leftovers, recs, statuses)
    dead_letters = len(dead.records())
    result.figures["dead_letters"] = dead_letters
    result.check(
        "no dead letters (every record was valid)", dead_letters == 0, f"{dead_letters} dead letters"
    )


def _verify_deletions(
    result: ScenarioResult,
    deleted: dict[str, Deletion],
    leftovers: dict[str, dict[str, int]],
    recs: TopicLog,
    statuses: TopicLog,
) -> None:
    stages: dict[str, list[dict[str, Any]]] = {}
    for value in statuses.values():
        stages.setdefault(str(value.get("request_id")), []).append(value)
    problems: list[str] = []
    for user, request in deleted.items():
        seen = stages.get(request.request_id, [])
        purged = [s for s in seen if s.get("stage") == "purged"]
        if not purged or any(s.get("stage") == "failed" for s in seen):
            problems.append(f"{request.request_id}: stages {[s.get('stage') for s in seen]}")
            continue
        if leftovers[user]:
            problems.append(f"{request.request_id}: rows left {leftovers[user]}")
        purged_at = min(int(s["at"]) for s in purged)
        late = [r for r in recs.values() if r.get("user_id") == user and int(r["generated_at"]) > purged_at]
        if late:
            problems.append(f"{request.request_id}: {len(late)} recommendation(s) after purged")
    result.figures["deletions_purged"] = len(deleted) - len(problems)
    result.check(
        "every deletion purged: no row in any table, no recommendation after purged",
        not problems,
        f"{len(deleted) - len(problems)}/{len(deleted)} requests purged and clean"
        + (f"; {problems}" if problems else ""),
    )


def _normal(fields: tuple[Any, ...]) -> tuple[Any, ...]:
    """(user, item, type, rating, ts) with the rating as a float or None, for comparison."""
    user, item, kind, rating, ts = fields
    return (str(user), str(item), str(kind), None if rating is None else float(rating), int(ts))


def _count_by_user(rows: dict[str, tuple[Any, ...]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for fields in rows.values():
        counts[str(fields[0])] = counts.get(str(fields[0]), 0) + 1
    return counts
