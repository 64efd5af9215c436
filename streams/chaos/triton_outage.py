"""Scenario 2: tritonserver stopped for 30 s while live clicks flow.

A pool of users clicks at a steady rate (live traffic: each click is stamped when it is sent).
Once LLM-scored recommendations flow, tritonserver is stopped (SIGTERM, the process and its
model stubs gone), left down for ``down_s`` and started again on the same ports. An outside
reader of ``recommendations`` measures:

1. **Fallback within the breaker window.** From the stop, the first ``fallback: true``
   recommendation arrives within ``fallback_budget_s``: the worker's retry schedule (production
   defaults, 3 retries from 0.5 s: 3.5 s) plus the 10 s breaker cooldown, plus slack.
2. **They keep flowing.** While Triton is down, no two consecutive recommendations are further
   apart than that budget, and none claims an LLM score (``fallback: false`` generated after the
   server was gone would be a lie).
3. **LLM scores resume.** After Triton is ready again (its own start-up, tens of seconds for the
   Python stub to import torch, is not the worker's time), the first ``fallback: false``
   recommendation arrives within ``recovery_budget_s`` (30 s).
4. **Nobody left behind.** When the load stops, ``rec_pending`` drains to empty and every
   user's final recommendation answers their last click; the worker never exited.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

from streams.chaos.harness import (
    ChaosStack,
    PacedPublisher,
    ScenarioResult,
    Seen,
    TopicLog,
    last_by_user,
    wait_for,
)
from streams.contracts import CLICKS, ITEMS, RECOMMENDATIONS, SCHEMA_VERSION, Click, Item
from streams.kafka import ContractProducer
from streams.store import Store

__all__ = ["TritonOutageConfig", "run"]

NAME = "Triton down under load"

GENRES = ("Drama", "Comedy", "Action", "Sci-Fi", "Romance", "Thriller")
# Production scoring settings, spelled out: the fallback budget below is derived from them.
SCORE_RETRIES = 3
SCORE_BACKOFF_S = 0.5
BREAKER_COOLDOWN_S = 10.0  # streams.agents.recommend.BREAKER_COOLDOWN_S


@dataclass(frozen=True)
class TritonOutageConfig:
    down_s: float = 30.0
    warmup_s: float = 10.0  # LLM-scored recommendations must flow before the fault
    clicks_per_s: float = 2.0  # live load: one click from the next user of the pool each time
    users: int = 40
    items: int = 120
    # Retries (0.5 + 1 + 2 s) + the breaker cooldown + 1.5 s of slack for the first call's
    # connection error and the publish.
    fallback_budget_s: float = SCORE_BACKOFF_S * (2**SCORE_RETRIES - 1) + BREAKER_COOLDOWN_S + 1.5
    recovery_budget_s: float = 30.0
    after_recovery_s: float = 5.0  # load kept on after LLM scores came back
    drain_timeout_s: float = 180.0
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("down_s", "warmup_s", "clicks_per_s", "fallback_budget_s", "recovery_budget_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"TritonOutageConfig.{name} must be > 0, got {getattr(self, name)}")
        if self.users < 2 or self.items < 20:
            raise ValueError(
                f"TritonOutageConfig needs users >= 2 and items >= 20, got {self.users}, {self.items}"
            )


def _load(config: TritonOutageConfig, horizon_s: float) -> tuple[list[Item], list[tuple[str, str, Any]]]:
    """A small catalog and enough round-robin clicks for ``horizon_s`` seconds of load."""
    rng = random.Random(config.seed)
    items = [
        Item(
            schema_version=SCHEMA_VERSION,
            item_id=f"t-item-{n}",
            title=f"Chaos movie {n}",
            categories=[GENRES[n % len(GENRES)]],
        )
        for n in range(config.items)
    ]
    records: list[tuple[str, str, Any]] = []
    now = int(time.time() * 1000)
    for n in range(int(horizon_s * config.clicks_per_s) + 1):
        user = f"t-user-{n % config.users}"
        click = Click(
            schema_version=SCHEMA_VERSION,
            event_id=f"{user}-e{n}",
            user_id=user,
            item_id=items[rng.randrange(config.items)].item_id,
            event_type="click",
            ts=now,  # stamped again when sent (live)
        )
        records.append((CLICKS, user, click))
    return items, records


def _arrivals(recs: TopicLog, since: float, until: float | None = None) -> list[Seen]:
    return [r for r in recs.records() if r.at >= since and (until is None or r.at <= until)]


def run(stack: ChaosStack, config: TritonOutageConfig) -> ScenarioResult:
    result = ScenarioResult(2, NAME)
    horizon = config.warmup_s + config.down_s + 300 + config.recovery_budget_s + config.after_recovery_s
    items, records = _load(config, horizon)
    result.figures.update(
        down_s=config.down_s,
        clicks_per_s=config.clicks_per_s,
        users=config.users,
        fallback_budget_s=round(config.fallback_budget_s, 2),
        recovery_budget_s=config.recovery_budget_s,
    )
    with stack.broker("triton-outage") as broker:
        with ContractProducer(broker.bootstrap) as producer:
            producer.send_all(ITEMS, ((i.item_id, i) for i in items))
        worker = stack.worker(
            "triton-outage",
            broker.bootstrap,
            STREAMREC_SCORE_RETRIES=str(SCORE_RETRIES),
            STREAMREC_SCORE_BACKOFF_S=str(SCORE_BACKOFF_S),
        )
        recs = TopicLog(broker.bootstrap, RECOMMENDATIONS).start()
        load = PacedPublisher(broker.bootstrap, records, config.clicks_per_s, "live clicks", False, live=True)
        try:
            worker.start(timeout_s=180)
            load.start()
            warm = wait_for(
                lambda: any(not r.value["fallback"] for r in recs.records()), config.warmup_s + 60, 0.5
            )
            time.sleep(config.warmup_s)
            if not result.check(
                "LLM-scored recommendations flow before the fault",
                warm,
                f"{sum(not r.value['fallback'] for r in recs.records())} fallback:false before the stop",
            ):
                return result
            # 1. The fault: the server and its stubs are gone when stop() returns.
            stop_began = time.monotonic()
            stack.stop_triton()
            down_at, down_wall = time.monotonic(), int(time.time() * 1000)
            time.sleep(max(0.0, config.down_s - (down_at - stop_began)))
            restart_began, restart_wall = time.monotonic(), int(time.time() * 1000)
            result.figures["triton_restart_s"] = round(stack.start_triton(), 1)
            ready_at, ready_wall = time.monotonic(), int(time.time() * 1000)
            result.figures["outage_s"] = round(ready_at - stop_began, 1)
            # 2. Wait for LLM scores after the server is back (longer than the budget, to measure).
            wait_for(
                lambda: any(
                    not r.value["fallback"] and int(r.value["generated_at"]) >= ready_wall
                    for r in _arrivals(recs, ready_at)
                ),
                config.recovery_budget_s + 60,
                0.2,
            )
            time.sleep(config.after_recovery_s)
            load.halt()
            load.join(10)
            sent = records[: load.sent]
            last_click = {key: str(value.event_id) for _topic, key, value in sent}
            drained = wait_for(lambda: _pending(worker) == 0, config.drain_timeout_s, 1.0)
            wait_for(lambda: not _unanswered(recs, last_click), 60.0, 1.0)
            exit_code = worker.exit_code()
            worker.stop(timeout_s=60)
        finally:
            load.halt()
            worker.kill()
            recs.stop()
    store = Store(worker.data_dir / "streamrec.duckdb", read_only=True)
    try:
        pending = store.pending.count()
    finally:
        store.close()
    _verdict(
        result,
        recs,
        stop_began=stop_began,
        down_wall=down_wall,
        restart=(restart_began, restart_wall),
        ready=(ready_at, ready_wall),
        config=config,
    )
    unanswered = _unanswered(recs, last_click)
    result.figures.update(clicks_sent=len(sent), recommendations=len(recs.records()), pending_at_end=pending)
    result.check(
        "nobody pending at the end; every user's final recommendation answers their last click",
        drained and pending == 0 and not unanswered,
        f"rec_pending rows {pending}; {len(last_click) - len(unanswered)}/{len(last_click)} users "
        f"answered their last click" + (f" (not: {unanswered[:5]})" if unanswered else ""),
    )
    result.check("the worker survived the outage", exit_code is None, f"exit code while running: {exit_code}")
    return result


def _pending(worker: Any) -> int | None:
    try:
        return int(worker.status(timeout_s=5)["pending_users"])
    except OSError:
        return None


def _unanswered(recs: TopicLog, last_click: dict[str, str]) -> list[str]:
    finals = last_by_user(recs.values())
    return sorted(u for u, e in last_click.items() if finals.get(u, {}).get("trigger_event_id") != e)


def _verdict(
    result: ScenarioResult,
    recs: TopicLog,
    *,
    stop_began: float,
    down_wall: int,
    restart: tuple[float, int],
    ready: tuple[float, int],
    config: TritonOutageConfig,
) -> None:
    """Checks 1-3 from the arrivals the outside reader saw."""
    (restart_at, restart_wall), (ready_at, ready_wall) = restart, ready
    during = _arrivals(recs, stop_began, ready_at)
    fallbacks = [r for r in during if r.value["fallback"]]
    first = (fallbacks[0].at - stop_began) if fallbacks else None
    result.figures.update(
        fallback_window_s=None if first is None else round(first, 2),
        recs_during_outage=len(during),
        fallback_recs_during_outage=len(fallbacks),
    )
    result.check(
        "fallback:true recommendations within the breaker window after the stop",
        first is not None and first <= config.fallback_budget_s,
        f"first fallback {first if first is None else round(first, 2)} s after the stop "
        f"(budget {config.fallback_budget_s:g} s)",
    )
    # From the first fallback to the restart, recommendations keep arriving.
    flowing = [r.at for r in during if fallbacks and r.at >= fallbacks[0].at and r.at <= restart_at]
    marks = [*flowing, restart_at] if flowing else []
    gaps = [b - a for a, b in zip(marks, marks[1:], strict=False)]
    longest = max(gaps, default=float("nan"))
    lies = [
        r.value["trigger_event_id"]
        for r in recs.records()
        if not r.value["fallback"] and down_wall + 1000 < int(r.value["generated_at"]) < restart_wall
    ]
    result.figures.update(longest_gap_during_outage_s=round(longest, 2), llm_recs_while_down=len(lies))
    result.check(
        "recommendations keep flowing while Triton is down, all marked fallback",
        bool(flowing) and longest <= config.fallback_budget_s and not lies,
        f"{len(fallbacks)} fallback recommendations while down, longest gap {longest:.1f} s "
        f"(budget {config.fallback_budget_s:g} s); {len(lies)} claimed an LLM score while it was down",
    )
    back = [
        r
        for r in _arrivals(recs, ready_at)
        if not r.value["fallback"] and int(r.value["generated_at"]) >= ready_wall
    ]
    recovery = (back[0].at - ready_at) if back else None
    result.figures["llm_resumed_after_ready_s"] = None if recovery is None else round(recovery, 2)
    result.check(
        "LLM-scored recommendations resume after Triton is back",
        recovery is not None and recovery <= config.recovery_budget_s,
        f"first fallback:false {recovery if recovery is None else round(recovery, 2)} s after Triton "
        f"was ready (budget {config.recovery_budget_s:g} s)",
    )
