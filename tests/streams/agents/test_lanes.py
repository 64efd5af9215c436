"""The lane rules of the recommend task: live users first, the backfill never starved, and the
backfill lane held while replayed history arrives (``streams.agents.lanes``)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from streams.agents import Runtime
from streams.agents.clicks import handle_click_batch
from streams.agents.lanes import BackfillHold, LanePicker
from streams.settings import Settings
from streams.store import AsyncStore
from tests.streams.agent_fakes import Event, Msg, fake_topics

# -- LanePicker: live users first, the backfill never starved ----------------------------------------


def test_lane_picker_serves_live_first_and_gives_backfill_its_share() -> None:
    picker = LanePicker(backfill_every=4)
    both = [picker.choose(True, True) for _ in range(8)]
    assert both == ["live", "live", "live", "backfill"] * 2, "every 4th call goes to the backfill"
    assert picker.choose(False, True) == "backfill"
    assert picker.choose(True, False) == "live"
    assert picker.choose(False, False) is None


def test_lane_picker_with_backfill_every_one_alternates_nothing_away_from_backfill() -> None:
    picker = LanePicker(backfill_every=1)
    assert [picker.choose(True, True) for _ in range(3)] == ["backfill"] * 3
    assert picker.choose(True, False) == "live"


def test_live_streak_only_counts_while_the_backfill_waits() -> None:
    """Live calls made while no backfill waited do not use up the backfill's turn."""
    picker = LanePicker(backfill_every=3)
    for _ in range(5):
        assert picker.choose(True, False) == "live"
    assert [picker.choose(True, True) for _ in range(3)] == ["live", "live", "backfill"]


# -- BackfillHold: replayed users are ranked once their replay has gone quiet -------------------


def test_without_history_the_backfill_is_admitted() -> None:
    assert BackfillHold(quiet_s=2.0, max_hold_s=30.0).admits_backfill(now=100.0)


def test_history_holds_the_backfill_until_quiet_for_quiet_s() -> None:
    hold = BackfillHold(quiet_s=2.0, max_hold_s=30.0)
    hold.history_arrived(10.0)
    assert not hold.admits_backfill(10.5)
    hold.history_arrived(11.0)  # still arriving: the quiet period starts again
    assert not hold.admits_backfill(12.9)
    assert hold.admits_backfill(13.0)


def test_an_endless_replay_still_gets_a_backfill_call_every_max_hold_s() -> None:
    hold = BackfillHold(quiet_s=2.0, max_hold_s=30.0)
    now = 0.0
    served = []
    while now < 100.0:
        hold.history_arrived(now)
        if hold.admits_backfill(now):
            hold.served_backfill(now)
            served.append(now)
        now += 0.5
    assert served == [30.0, 60.0, 90.0]


def test_quiet_zero_turns_the_hold_off() -> None:
    hold = BackfillHold(quiet_s=0.0, max_hold_s=30.0)
    hold.history_arrived(5.0)
    assert hold.admits_backfill(5.0)


@pytest.mark.parametrize(
    ("quiet", "max_hold"), [(-1.0, 30.0), (float("nan"), 30.0), (2.0, 0.0), (2.0, float("inf"))]
)
def test_bad_hold_settings_are_rejected(quiet: float, max_hold: float) -> None:
    with pytest.raises(ValueError):
        BackfillHold(quiet_s=quiet, max_hold_s=max_hold)


# -- the clicks agent feeds the hold ----------------------------------------------------------


@pytest.mark.parametrize(("age_s", "held"), [(3600.0, True), (1.0, False)])
def test_a_click_batch_holds_the_backfill_only_when_it_replays_history(
    tmp_path: Path, age_s: float, held: bool
) -> None:
    ts = int((time.time() - age_s) * 1000)
    raw = [
        json.dumps(
            {"schema_version": 1, "user_id": "u1", "item_id": f"i{n}", "event_type": "click", "ts": ts}
        ).encode()
        for n in range(3)
    ]
    events = [Event(Msg("clicks", 0, offset, value)) for offset, value in enumerate(raw)]

    async def scenario() -> bool:
        runtime = Runtime(settings=Settings(data_dir=tmp_path), store=AsyncStore(":memory:"))
        try:
            await handle_click_batch(runtime, fake_topics(), events)  # type: ignore[arg-type]
            return not runtime.backfill_hold.admits_backfill(time.monotonic())
        finally:
            runtime.store.close()

    assert asyncio.run(scenario()) is held
