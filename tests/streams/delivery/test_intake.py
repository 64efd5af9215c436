"""``micro_batches``: batches keep filling while the caller stores one, acks come only after.

The source here is a stand-in ``EventSource``; ``test_channel_reader.py`` tests the Faust one
on real Faust objects, and every e2e test (``tests/e2e``) runs both on Kafka, which would lose
or duplicate clicks if they acknowledged too early.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

import pytest

from streams.delivery.intake import micro_batches


@dataclass
class FakeEvent:
    value: int
    acked: bool = False


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

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    async def take(self, limit: int) -> list[FakeEvent]:
        if self.fed >= len(self.values):
            await asyncio.Event().wait()  # nothing more will come
        await asyncio.sleep(self.gap_s)
        n = min(limit, self.per_take, len(self.values) - self.fed)
        taken = [FakeEvent(v) for v in self.values[self.fed : self.fed + n]]
        self.fed += n
        return taken

    def ack_all(self, events: Iterable[FakeEvent]) -> None:
        for event in events:
            event.acked = True


def test_batches_are_acked_only_when_the_next_one_is_asked_for() -> None:
    async def scenario() -> None:
        stream = FakeSource(list(range(25)))
        batches: list[list[FakeEvent]] = []
        agen = micro_batches(stream, 10, 0.05)  # type: ignore[arg-type]
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
        agen = micro_batches(stream, 10, 0.05)  # type: ignore[arg-type]
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
            async for batch in micro_batches(stream, 10, 0.05):  # type: ignore[arg-type]
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
        agen = micro_batches(stream, 100, 60.0, 0.02)  # type: ignore[arg-type]
        batch = await asyncio.wait_for(agen.__anext__(), timeout=10)
        assert [e.value for e in batch] == list(range(5))
        await agen.aclose()

    asyncio.run(scenario())


def test_records_that_keep_coming_keep_the_batch_open_until_the_window() -> None:
    # One record every 10 ms never leaves the stream quiet for 0.2 s, so batches close on the
    # 0.5 s window: several records each, not one per quiet check.
    async def scenario() -> None:
        stream = FakeSource(list(range(200)), gap_s=0.01, per_take=1)
        agen = micro_batches(stream, 1000, 0.5, 0.2)  # type: ignore[arg-type]
        first = await asyncio.wait_for(agen.__anext__(), timeout=10)
        assert 5 < len(first) < 150  # about 50: the window closed it, not the end of the stream
        await agen.aclose()

    asyncio.run(scenario())


@pytest.mark.parametrize(("max_events", "within_s"), [(0, 0.1), (10, 0.0)])
def test_bad_batch_settings_are_rejected(max_events: int, within_s: float) -> None:
    async def scenario() -> None:
        with pytest.raises(ValueError):
            await micro_batches(FakeSource([]), max_events, within_s).__anext__()  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="quiet_s"):
            await micro_batches(FakeSource([]), 10, 0.1, 0.0).__anext__()  # type: ignore[arg-type]

    asyncio.run(scenario())


def test_a_failing_source_ends_the_batches_with_its_error() -> None:
    class Broken(FakeSource):
        async def take(self, limit: int) -> list[FakeEvent]:
            raise RuntimeError("channel closed under us")

    async def scenario() -> None:
        source = Broken([1, 2, 3])
        with pytest.raises(RuntimeError, match="channel closed under us"):
            async for _ in micro_batches(source, 10, 0.05):  # type: ignore[arg-type]
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
        batches = [batch async for batch in micro_batches(source, 10, 0.05)]  # type: ignore[arg-type]
        assert source.started and source.stopped
        assert all(not e.acked for b in batches for e in b[-1:]), "the last batch stays unacked"

    asyncio.run(asyncio.wait_for(scenario(), timeout=10))
