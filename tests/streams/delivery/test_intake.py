"""``micro_batches``: batches keep filling while the caller stores one, acks come only after.

The stream here is a stand-in with the parts of ``faust.Stream`` that ``micro_batches`` uses
(processors, the passive drainer, ``current_event``, ``ack``, ``wait``); the real Faust stream
runs under it in every e2e test (``tests/e2e``), which would lose or duplicate clicks if it
acknowledged too early.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from streams.delivery.intake import micro_batches


@dataclass
class FakeEvent:
    value: int
    acked: bool = False


@dataclass
class FakeStream:
    """Feeds ``values`` through the processors as fast as they let it, like Faust's drainer."""

    values: list[int]
    enable_acks: bool = True
    should_stop: bool = False
    current_event: FakeEvent | None = None
    _processors: list[Callable[[Any], Awaitable[Any]]] = field(default_factory=list)
    fed: int = 0
    drainer: asyncio.Task[None] | None = None
    channel: Any = None
    gap_s: float = 0.0  # between records: 0 is a replay's backlog, more a trickle

    def __post_init__(self) -> None:
        async def _empty() -> Any:  # aiter(channel) must work; the drainer ignores it
            yield

        self.channel = _empty()

    def add_processor(self, processor: Callable[[Any], Awaitable[Any]]) -> None:
        self._processors.append(processor)

    def _enable_passive(self, channel: Any) -> None:
        self.drainer = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        for value in self.values:
            self.current_event = FakeEvent(value)
            self.fed += 1
            for processor in list(self._processors):
                await processor(value)
            await asyncio.sleep(self.gap_s)

    async def wait(self, event: asyncio.Event) -> None:
        await event.wait()

    async def wait_for_stopped(self, event: asyncio.Event, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    async def ack(self, event: FakeEvent) -> None:
        event.acked = True


def test_batches_are_acked_only_when_the_next_one_is_asked_for() -> None:
    async def scenario() -> None:
        stream = FakeStream(list(range(25)))
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
        assert stream.enable_acks is True and stream._processors == []
        assert stream.drainer is not None
        stream.drainer.cancel()

    asyncio.run(scenario())


def test_the_stream_keeps_filling_while_a_batch_is_stored_but_stays_bounded() -> None:
    async def scenario() -> None:
        stream = FakeStream(list(range(100)))
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
        assert stream.drainer is not None
        stream.drainer.cancel()

    asyncio.run(scenario())


def test_a_caller_that_raises_leaves_its_batch_unacked() -> None:
    async def scenario() -> FakeStream:
        stream = FakeStream(list(range(5)))
        seen: list[FakeEvent] = []
        with pytest.raises(RuntimeError, match="disk full"):
            async for batch in micro_batches(stream, 10, 0.05):  # type: ignore[arg-type]
                seen.extend(batch)
                raise RuntimeError("disk full")
        assert seen and not any(e.acked for e in seen)
        assert stream.drainer is not None
        stream.drainer.cancel()
        return stream

    asyncio.run(scenario())


def test_a_quiet_stream_hands_out_its_batch_without_waiting_out_the_window() -> None:
    # A live user's clicks arrive together, then nothing. With a 60 s window the batch must
    # still come out: the quiet rule, not the window, releases it.
    async def scenario() -> None:
        stream = FakeStream(list(range(5)))
        agen = micro_batches(stream, 100, 60.0, 0.02)  # type: ignore[arg-type]
        batch = await asyncio.wait_for(agen.__anext__(), timeout=10)
        assert [e.value for e in batch] == list(range(5))
        await agen.aclose()
        assert stream.drainer is not None
        stream.drainer.cancel()

    asyncio.run(scenario())


def test_records_that_keep_coming_keep_the_batch_open_until_the_window() -> None:
    # One record every 10 ms never leaves the stream quiet for 0.2 s, so batches close on the
    # 0.5 s window: several records each, not one per quiet check.
    async def scenario() -> None:
        stream = FakeStream(list(range(200)), gap_s=0.01)
        agen = micro_batches(stream, 1000, 0.5, 0.2)  # type: ignore[arg-type]
        first = await asyncio.wait_for(agen.__anext__(), timeout=10)
        assert 5 < len(first) < 150  # about 50: the window closed it, not the end of the stream
        await agen.aclose()
        assert stream.drainer is not None
        stream.drainer.cancel()

    asyncio.run(scenario())


@pytest.mark.parametrize(("max_events", "within_s"), [(0, 0.1), (10, 0.0)])
def test_bad_batch_settings_are_rejected(max_events: int, within_s: float) -> None:
    async def scenario() -> None:
        with pytest.raises(ValueError):
            await micro_batches(FakeStream([]), max_events, within_s).__anext__()  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="quiet_s"):
            await micro_batches(FakeStream([]), 10, 0.1, 0.0).__anext__()  # type: ignore[arg-type]

    asyncio.run(scenario())
