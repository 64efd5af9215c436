"""The worker's transport sets the consumer's fetch long-poll that Faust hard-codes to 1500 ms."""

from __future__ import annotations

import asyncio

import faust
import pytest
from faust.transport import drivers

from streams import transport


def test_the_scheme_resolves_to_the_streamrec_transport() -> None:
    assert drivers.by_url(f"{transport.SCHEME}://127.0.0.1:9092") is transport.Transport


@pytest.mark.parametrize("wait", [0, 10, 250])
def test_the_worker_consumer_gets_the_configured_wait(wait: int) -> None:
    app = faust.App(f"transport-test-{wait}", broker=f"{transport.SCHEME}://127.0.0.1:1")
    transport.configure(app, wait)
    consumer = app.transport.create_consumer(
        callback=lambda *_: None,
        on_partitions_revoked=lambda *_: None,
        on_partitions_assigned=lambda *_: None,
    )
    thread = consumer._new_consumer_thread()

    async def created() -> int:
        kafka = thread._create_worker_consumer(app.transport)  # aiokafka wants a running loop
        try:
            # The attribute aiokafka hands to its Fetcher in start(); a rename fails here.
            assert "_fetch_max_wait_ms" in vars(kafka)
            return int(kafka._fetch_max_wait_ms)
        finally:
            await kafka.stop()

    assert asyncio.run(created()) == wait


def test_an_unconfigured_app_gets_the_default() -> None:
    app = faust.App("transport-test-default", broker=f"{transport.SCHEME}://127.0.0.1:1")
    assert transport.fetch_max_wait_ms(app) == transport.DEFAULT_FETCH_MAX_WAIT_MS


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_a_bad_wait_is_rejected(bad: object) -> None:
    app = faust.App("transport-test-bad", broker=f"{transport.SCHEME}://127.0.0.1:1")
    with pytest.raises(ValueError, match="fetch_max_wait_ms"):
        transport.configure(app, bad)  # type: ignore[arg-type]


def test_after_faust_seeks_to_committed_the_registered_positions_win(monkeypatch: pytest.MonkeyPatch) -> None:
    from faust.transport.drivers import aiokafka as faust_aiokafka
    from faust.types import TP

    app = faust.App("transport-test-start", broker=f"{transport.SCHEME}://127.0.0.1:1")
    consumer = app.transport.create_consumer(
        callback=lambda *_: None,
        on_partitions_revoked=lambda *_: None,
        on_partitions_assigned=lambda *_: None,
    )
    order: list[object] = []

    async def faust_seek(self: object) -> None:
        order.append("committed")

    async def seek(tp: TP, offset: int) -> None:
        order.append((tp, offset))

    async def positions(assigned: frozenset[TP]) -> dict[TP, int]:
        assert assigned == {TP("clicks", 0), TP("clicks", 1)}
        return {TP("clicks", 0): 0, TP("clicks", 7): 3}  # 7 is not assigned: never sought

    monkeypatch.setattr(faust_aiokafka.Consumer, "perform_seek", faust_seek)
    monkeypatch.setattr(consumer, "assignment", lambda: {TP("clicks", 0), TP("clicks", 1)})
    monkeypatch.setattr(consumer, "seek", seek)

    asyncio.run(consumer.perform_seek())
    assert order == ["committed"]  # nothing registered: Faust's seek alone

    transport.start_from(app, positions)
    order.clear()
    asyncio.run(consumer.perform_seek())
    assert order == ["committed", (TP("clicks", 0), 0)]
