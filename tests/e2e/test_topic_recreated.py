"""A topic recreated under a running worker: the worker stops, restarts and re-reads it whole.

The offsets in DuckDB belong to one incarnation of ``clicks``. Here the topic is deleted and
created again while the worker runs, and refilled with *more* records than the worker had
applied, so the consumer sees no offset out of range and would go on from its old position:
without the topic-id watch (``streams.agents.topic_watch``) the new records below that position
would never be read. The worker must fail-stop, and after a restart every click of both
incarnations is stored exactly once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient

from streams.contracts import CLICKS
from streams.delivery import FAIL_STOP_EXIT_CODE
from streams.kafka import ensure_topics
from streams.local import TansuBroker, free_port
from tests.e2e.helpers import clicks, publish
from tests.fixtures.kafka import PARTITIONS, WorkerProcess, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[TansuBroker]:
    """A broker of this test's own: deleting ``clicks`` on the shared one would hurt other tests."""
    broker = TansuBroker("127.0.0.1", free_port(), log_path=tmp_path / "tansu.log")
    broker.start()
    ensure_topics(broker.bootstrap, PARTITIONS)
    yield broker
    broker.stop()


def _events(prefix: str, users: int, per_user: int) -> list[Any]:
    return [
        c
        for u in range(users)
        for c in clicks(f"{prefix}-u{u}", [f"i{(u + k) % 50}" for k in range(per_user)])
    ]


def test_recreated_clicks_topic_is_reread_whole(
    own_broker: TansuBroker, triton_server: Any, tmp_path: Path
) -> None:
    worker = WorkerProcess(tmp_path / "worker", own_broker.bootstrap, triton_server.grpc_url)
    worker.start()
    try:
        first = _events(f"a{uuid.uuid4().hex[:6]}", users=20, per_user=10)
        publish(own_broker.bootstrap, events=first)
        wait_until(
            lambda: worker.interactions() == len(first), timeout_s=60, what="the first incarnation stored"
        )

        admin = AdminClient({"bootstrap.servers": own_broker.bootstrap})
        for future in admin.delete_topics([CLICKS]).values():
            future.result(timeout=10)
        ensure_topics(own_broker.bootstrap, PARTITIONS, topics=(CLICKS,))
        # Twice as many records as before: every partition's new end lies beyond the old offsets.
        second = _events(f"b{uuid.uuid4().hex[:6]}", users=20, per_user=20)
        publish(own_broker.bootstrap, events=second)

        wait_until(lambda: worker.exit_code() is not None, timeout_s=60, what="the worker to stop")
        assert worker.exit_code() == FAIL_STOP_EXIT_CODE, worker.log_tail()
        worker.start()
        try:
            wait_until(
                lambda: worker.interactions() >= len(first) + len(second), timeout_s=90, what="the re-read"
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}; status {worker.status()}\n{worker.log_tail()}") from None
        worker.stop()
        store = worker.open_store()
        try:
            stored = store.audit.query("SELECT event_id, count(*) FROM interactions GROUP BY event_id")
        finally:
            store.close()
    finally:
        if worker.proc is not None:
            worker.kill()
    counts = {str(event_id): int(n) for event_id, n in stored}
    assert set(counts) == {str(c.event_id) for c in first + second}
    assert max(counts.values()) == 1


def test_a_consumer_group_ahead_of_duckdb_is_sought_back(
    own_broker: TansuBroker, triton_server: Any, tmp_path: Path
) -> None:
    """The worker's data dir is lost while the group's committed offsets survive in Kafka.

    The restarted worker's consumer starts at the group's (end) offsets, beyond what the empty
    DuckDB holds. After the assignment it must start where DuckDB says
    (``streams.transport.start_from``) and rebuild every click from the log before any new one
    arrives, then store the new ones too.
    """
    data_dir = tmp_path / "worker"
    worker = WorkerProcess(data_dir, own_broker.bootstrap, triton_server.grpc_url)
    worker.start()
    try:
        first = _events(f"a{uuid.uuid4().hex[:6]}", users=20, per_user=10)
        publish(own_broker.bootstrap, events=first)
        wait_until(lambda: worker.interactions() == len(first), timeout_s=60, what="the first clicks stored")
        worker.stop()  # a graceful stop commits the group's offsets at the end of the log
        for path in data_dir.glob("streamrec.duckdb*"):
            path.unlink()

        worker.start()
        try:
            # Nothing new is published yet: the rebuild must not wait for a record to arrive.
            wait_until(lambda: worker.interactions() >= len(first), timeout_s=90, what="the rebuild")
            second = _events(f"b{uuid.uuid4().hex[:6]}", users=20, per_user=5)
            publish(own_broker.bootstrap, events=second)
            wait_until(
                lambda: worker.interactions() >= len(first) + len(second), timeout_s=60, what="the new clicks"
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}; status {worker.status()}\n{worker.log_tail()}") from None
        worker.stop()
        store = worker.open_store()
        try:
            stored = store.audit.query("SELECT event_id, count(*) FROM interactions GROUP BY event_id")
        finally:
            store.close()
    finally:
        if worker.proc is not None:
            worker.kill()
    counts = {str(event_id): int(n) for event_id, n in stored}
    assert set(counts) == {str(c.event_id) for c in first + second}
    assert max(counts.values()) == 1
    assert "starting at stored offset 0, not the group's" in (data_dir / "worker.log").read_text()
