"""When a stored click batch wakes the recommender, and when it leaves it asleep.

A replay writes thousands of batches of history. Waking the recommender for each one made it
read the queue on the store thread for nothing while the backfill hold kept it from serving
those users anyway, so only a live click, or a backfill it may serve now, wakes it.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from streams.agents import Runtime
from streams.agents.clicks import handle_click_batch
from streams.settings import Settings
from streams.store import AsyncStore
from tests.streams.agents.test_stage_metrics import Event, Message, fake_topics

DAY_MS = 86_400_000


def batch(ts_ms: list[int], first_offset: int = 0) -> list[Event]:
    events = []
    for n, ts in enumerate(ts_ms):
        raw = json.dumps(
            {"schema_version": 1, "user_id": f"u{n}", "item_id": f"i{n}", "event_type": "click", "ts": ts}
        ).encode()
        events.append(Event(Message("clicks", 0, first_offset + n, raw)))
    return events


def woken_after(tmp_path: Path, batches: list[list[Event]], **settings: float) -> list[bool]:
    """Whether each batch, handled in turn, left the recommender's wakeup set."""

    async def scenario() -> list[bool]:
        runtime = Runtime(settings=Settings(data_dir=tmp_path, **settings), store=AsyncStore(":memory:"))
        seen = []
        try:
            for events in batches:
                runtime.recommend_wakeup.clear()
                await handle_click_batch(runtime, fake_topics(), events)  # type: ignore[arg-type]
                seen.append(runtime.recommend_wakeup.is_set())
        finally:
            runtime.store.close()
        return seen

    return asyncio.run(scenario())


def now_ms() -> int:
    return int(time.time() * 1000)


def test_a_live_click_wakes_the_recommender(tmp_path: Path) -> None:
    assert woken_after(tmp_path, [batch([now_ms()])]) == [True]


def test_history_under_the_hold_leaves_it_asleep_but_a_live_click_in_the_replay_wakes_it(
    tmp_path: Path,
) -> None:
    old = now_ms() - 30 * DAY_MS
    replay = [batch([old, old + 1]), batch([old + 2, old + 3], first_offset=2)]
    mixed = batch([old + 4, now_ms()], first_offset=4)  # a user clicks during the replay
    assert woken_after(tmp_path, [*replay, mixed]) == [False, False, True]


@pytest.mark.parametrize("settings", [{"backfill_quiet_s": 0.0}, {"backfill_hold_max_s": 1e-9}])
def test_history_wakes_it_when_the_backfill_may_be_served(tmp_path: Path, settings: dict[str, float]) -> None:
    """No hold (quiet 0), or a hold that already lasted its maximum: backfill is servable."""
    old = now_ms() - 30 * DAY_MS
    assert woken_after(tmp_path, [batch([old]), batch([old + 1], first_offset=1)], **settings)[-1]


def test_a_redelivered_batch_wakes_nobody(tmp_path: Path) -> None:
    events = batch([now_ms()])
    assert woken_after(tmp_path, [events, events]) == [True, False]
