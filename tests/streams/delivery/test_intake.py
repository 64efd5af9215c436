"""``micro_batches``: batches keep filling while the caller stores one, acks come only after.

The source here is a stand-in ``EventSource``; ``test_channel_reader.py`` tests the Faust one
on real Faust objects, and every e2e test (``tests/e2e``) runs both on Kafka, which would lose
or duplicate clicks if they acknowledged too early.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pytest

from streams.delivery.batch_policy import BatchPolicy
from streams.delivery.intake import micro_batches


def policy(max_events: int, within_s: float, quiet_s: float | None = None) -> BatchPolicy:
    return BatchPolicy(max_events=max_events, within_s=within_s, quiet_s=quiet_s)


@dataclass
class FakeEvent:
    value: int
    acked: bool = False
    produced_at: float | None = None  # Unix seconds; None: live (no timestamp)


@dataclass
class FakeSource:
    """Feeds ``values`` as fast as ``take`` is called, like a Faust channel with a backlog."""

    values: list[int]
    should_stop: bool = False
    fed: int = 0
    started: bool = False
    stopped: bool = False
    gap_s: float = 0.0  # between records: 0 is a replay's backlog, more a trickle
    per_take: int = 3  # records "already queued" per call, at most
    age_s: float | None = None  # how long each record waited in Kafka before it was taken

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    async def take(self, limit: int) -> list[FakeEvent]:
        if self.fed >= len(self.values):
            await asyncio.Event().wait()  # nothing more will come
        await asyncio.sleep(self.gap_s)
        n = min(limit, self.per_take, len(self.values) - self.fed)
        produced = None if self.age_s is None else time.time() - self.age_s
        taken = [FakeEvent(v, produced_at=produced) for v in self.values[self.fed : self.fed + n]]
        self.fed += n
        return taken

    def ack_all(self, events: Iterable[FakeEvent]) -> None:
        for event in events:
            event.acked = True

    def produced_at(self, events: Sequence[FakeEvent]) -> float | None:
        stamps = [e.produced_at for e in events if e.produced_at is not None]
        return max(stamps) if stamps else None


def test_batches_are_acked_only_when_the_next_one_is_asked_for() -> None:
    async def scenario() -> None:
        stream = FakeSource(list(range(25)))
        batches: list[list[FakeEvent]] = []
        agen = micro_batches(stream, policy(10, 0.05))
        async for batch in agen:
            assert not any(e.acked for e in batch), "acked before the caller was done"
            for earlier in batches:
                assert all(e.acked for e in earlier)
            batches.append(batch)
            if sum(len(b) for b in batches) == 25:
                break
        await agen.aclose()
        assert [e.value for b in batches for e in b] == list(range(25))
        assert max(len(b) for b in batches) <= 10
        assert not any(e.acked for e in batches[-1]), "the caller left: its last batch stays unacked"
        assert stream.started and stream.stopped

    asyncio.run(scenario())


def test_the_stream_keeps_filling_while_a_batch_is_stored_but_stays_bounded() -> None:
    async def scenario() -> None:
        stream = FakeSource(list(range(100)))
        agen = micro_batches(stream, policy(10, 0.05))
        first = await agen.__anext__()
        fed_at_handout = stream.fed
        await asyncio.sleep(0.1)  # "storing" the first batch
        # Records moved on while the batch was out (take_events would have held at one), but
        # no more than two batches' worth wait behind the one in flight.
        assert stream.fed > fed_at_handout
        assert stream.fed <= len(first) + 2 * 10
        second = await agen.__anext__()
        assert all(e.acked for e in first) and not any(e.acked for e in second)
        assert [e.value for e in first + second] == list(range(20))
        await agen.aclose()

    asyncio.run(scenario())


def test_a_caller_that_raises_leaves_its_batch_unacked() -> None:
    async def scenario() -> FakeSource:
        stream = FakeSource(list(range(5)))
        seen: list[FakeEvent] = []
        with pytest.raises(RuntimeError, match="disk full"):
            async for batch in micro_batches(stream, policy(10, 0.05)):
                seen.extend(batch)
                raise RuntimeError("disk full")
        assert seen and not any(e.acked for e in seen)
        return stream

    asyncio.run(scenario())


def test_a_quiet_stream_hands_out_its_batch_without_waiting_out_the_window() -> None:
    # A live user's clicks arrive together, then nothing. With a 60 s window the batch must
    # still come out: the quiet rule, not the window, releases it.
    async def scenario() -> None:
        stream = FakeSource(list(range(5)))
        agen = micro_batches(stream, policy(100, 60.0, 0.02))
        batch = await asyncio.wait_for(agen.__anext__(), timeout=10)
        assert [e.value for e in batch] == list(range(5))
        await agen.aclose()

    asyncio.run(scenario())


def test_records_that_keep_coming_keep_the_batch_open_until_the_window() -> None:
    # One record every 10 ms never leaves the stream quiet for 0.2 s, so batches close on the
    # 0.5 s window: several records each, not one per quiet check.
    async def scenario() -> None:
        stream = FakeSource(list(range(200)), gap_s=0.01, per_take=1)
        agen = micro_batches(stream, policy(1000, 0.5, 0.2))
        first = await asyncio.wait_for(agen.__anext__(), timeout=10)
        assert 5 < len(first) < 150  # about 50: the window closed it, not the end of the stream
        await agen.aclose()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"max_events": 0, "within_s": 0.1}, "max_events"),
        ({"max_events": 10, "within_s": 0.0}, "within_s"),
        ({"max_events": 10, "within_s": float("nan")}, "within_s"),
        ({"max_events": 10, "within_s": 0.1, "quiet_s": 0.0}, "quiet_s"),
        ({"max_events": 10, "within_s": 0.1, "backlog_within_s": -1.0}, "backlog_within_s"),
        ({"max_events": 10, "within_s": 0.1, "backlog_age_s": float("inf")}, "backlog_age_s"),
    ],
)
def test_bad_batch_settings_are_rejected(fields: dict[str, float], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        BatchPolicy(**fields)  # type: ignore[arg-type]


def test_the_deadline_is_the_earliest_rule_that_applies() -> None:
    live = BatchPolicy(max_events=10, within_s=0.2, quiet_s=0.02)
    assert live.deadline(first_at=100.0, live_at=100.0, last_at=100.5) == pytest.approx(100.2)
    assert live.deadline(first_at=100.0, live_at=100.0, last_at=100.1) == pytest.approx(100.12)
    both = BatchPolicy(max_events=10, within_s=0.2, quiet_s=0.02, backlog_within_s=1.0)
    # All backlog: only the backlog window (and the quiet rule) close the batch.
    assert both.deadline(first_at=100.0, live_at=None, last_at=100.9) == pytest.approx(100.92)
    assert both.deadline(first_at=100.0, live_at=None, last_at=101.5) == pytest.approx(101.0)
    # A live record joined at 100.5: it waits within_s at most, not the backlog window.
    assert both.deadline(first_at=100.0, live_at=100.5, last_at=100.6) == pytest.approx(100.62)
    assert both.deadline(first_at=100.0, live_at=100.5, last_at=101.5) == pytest.approx(100.7)
    assert both.deadline(first_at=100.0, live_at=100.9, last_at=101.5) == pytest.approx(101.0)


def test_a_record_is_backlog_once_it_waited_the_age_in_kafka() -> None:
    rule = BatchPolicy(max_events=10, within_s=0.2, backlog_within_s=1.0, backlog_age_s=2.0)
    assert rule.is_backlog(produced_at=1000.0, now=1002.0)
    assert not rule.is_backlog(produced_at=1000.0, now=1001.9)
    assert not rule.is_backlog(produced_at=None, now=5000.0), "no timestamp: live"
    without = BatchPolicy(max_events=10, within_s=0.2)
    assert not without.is_backlog(produced_at=0.001, now=5000.0), "no backlog rule: all live"


def backlog_policy(max_events: int = 1000) -> BatchPolicy:
    return BatchPolicy(max_events=max_events, within_s=0.1, quiet_s=0.05, backlog_within_s=0.6)


def test_a_backlog_fills_for_the_backlog_window_not_the_live_one() -> None:
    # One record every 10 ms never leaves the stream quiet for 50 ms. Records that waited an
    # hour in Kafka are a backlog: the batch stays open for the 0.6 s backlog window (about 60
    # records), where live records would go after 0.1 s (about 10).
    async def scenario(age_s: float | None) -> int:
        stream = FakeSource(list(range(500)), gap_s=0.01, per_take=1, age_s=age_s)
        agen = micro_batches(stream, backlog_policy())
        first = await asyncio.wait_for(agen.__anext__(), timeout=10)
        await agen.aclose()
        return len(first)

    assert 30 < asyncio.run(scenario(age_s=3600.0)) < 120
    assert 3 < asyncio.run(scenario(age_s=0.01)) < 25
    assert 3 < asyncio.run(scenario(age_s=None)) < 25, "records without a timestamp are live"


def test_a_live_record_joining_a_backlog_batch_makes_it_go_within_the_live_window() -> None:
    # A live click on another partition must not wait out a replay's backlog window. (No
    # quiet rule here: it would re-check the deadline every 50 ms and hide a missed wake-up.)
    async def scenario() -> tuple[list[FakeEvent], float]:
        stream = FakeSource(list(range(500)), gap_s=0.01, per_take=1, age_s=3600.0)
        agen = micro_batches(stream, BatchPolicy(max_events=1000, within_s=0.1, backlog_within_s=0.6))
        clock = asyncio.get_running_loop().time
        handout = asyncio.ensure_future(agen.__anext__())
        await asyncio.sleep(0.2)  # the batch is 0.2 s into its 0.6 s backlog window
        assert not handout.done() and stream.fed > 5
        stream.age_s = 0.0
        joined = clock()
        first = await asyncio.wait_for(handout, timeout=10)
        waited = clock() - joined
        await agen.aclose()
        return first, waited

    first, waited = asyncio.run(scenario())
    assert first[-1].produced_at is not None and time.time() - first[-1].produced_at < 1.0
    assert waited < 0.35, f"the live record waited {waited:.2f} s: the backlog window, not 0.1 s"


def test_the_rest_of_a_split_backlog_batch_keeps_filling_as_backlog() -> None:
    # 250 records of backlog at once: 200 go as a full batch, the other 50 start the next one,
    # which is still backlog, so it keeps filling from the trickle for the 0.6 s window
    # (~110 records) instead of going after the live 0.1 s (~60).
    class Burst(FakeSource):
        async def take(self, limit: int) -> list[FakeEvent]:
            self.per_take = 250 if self.fed == 0 else 1
            self.gap_s = 0.0 if self.fed == 0 else 0.01
            return await super().take(limit)

    async def scenario() -> list[int]:
        stream = Burst(list(range(1000)), age_s=3600.0)
        agen = micro_batches(stream, backlog_policy(max_events=200))
        sizes = [len(await asyncio.wait_for(agen.__anext__(), timeout=10)) for _ in range(2)]
        await agen.aclose()
        return sizes

    first, second = asyncio.run(scenario())
    assert first == 200
    assert 75 < second < 200


def test_a_failing_source_ends_the_batches_with_its_error() -> None:
    class Broken(FakeSource):
        async def take(self, limit: int) -> list[FakeEvent]:
            raise RuntimeError("channel closed under us")

    async def scenario() -> None:
        source = Broken([1, 2, 3])
        with pytest.raises(RuntimeError, match="channel closed under us"):
            async for _ in micro_batches(source, policy(10, 0.05)):
                pass
        assert source.started and source.stopped

    asyncio.run(asyncio.wait_for(scenario(), timeout=10))


def test_a_source_that_ends_ends_the_batches_without_acking_what_waits() -> None:
    # Faust ends an agent's channel with StopAsyncIteration when the worker stops.
    class Ending(FakeSource):
        async def take(self, limit: int) -> list[FakeEvent]:
            if self.fed:
                raise StopAsyncIteration
            self.fed = 1
            return [FakeEvent(0)]

    async def scenario() -> None:
        source = Ending([0])
        batches = [batch async for batch in micro_batches(source, policy(10, 0.05))]
        assert source.started and source.stopped
        assert all(not e.acked for b in batches for e in b[-1:]), "the last batch stays unacked"

    asyncio.run(asyncio.wait_for(scenario(), timeout=10))
