"""Fakes for the Faust parts the agents' batch handlers touch: messages, events, topics.

The handlers (``handle_click_batch``, ``handle_item_batch``, ``handle_deletion_batch``) take a
``Runtime`` with a real store and a ``Topics`` of Faust topics; these fakes stand in for the
broker so that fuzzing and privacy tests run thousands of batches in seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

from streams.agents.runtime import Topics

TIMESTAMP_S = 1_700_000_000.0


@dataclass(frozen=True)
class Msg:
    topic: str
    partition: int
    offset: int
    value: bytes | None
    key: bytes | None = None
    timestamp: float = TIMESTAMP_S


@dataclass(frozen=True)
class Event:
    message: Msg


@dataclass
class FakeTopic:
    """Records what was sent; every send is acknowledged at once."""

    sent: list[tuple[bytes | None, bytes]] = field(default_factory=list)

    async def send(self, key: bytes | None = None, value: bytes = b"") -> asyncio.Future[None]:
        self.sent.append((key, value))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


def fake_topics() -> Topics:
    return Topics(*(FakeTopic() for _ in range(6)))  # type: ignore[arg-type]


class FailStop(Exception):
    """A durable write kept failing: the worker would have exited without committing."""


@contextmanager
def fail_stop_raises() -> Iterator[None]:
    def _exit(code: int) -> None:
        raise FailStop(code)

    with mock.patch("streams.delivery.durable.os._exit", _exit), mock.patch("asyncio.sleep", _no_sleep):
        yield


async def _no_sleep(delay: float, result: Any = None) -> Any:
    return result
