"""Shared state of one worker process: the store thread, offsets, metrics, wake-ups.

DuckDB calls are blocking, so they run on one dedicated thread. One thread (not a pool) is
deliberate: it serialises every transaction of the process, which is what makes "ingest a batch"
and "purge a user" atomic with respect to each other without extra locks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from streams.settings import Settings
from streams.store import Store

__all__ = ["AsyncStore", "Runtime"]

T = TypeVar("T")
log = logging.getLogger(__name__)


class AsyncStore:
    """Runs :class:`Store` methods on a single background thread."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="duckdb")
        self._store: Store | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self._store = await loop.run_in_executor(self._executor, Store, self._path)

    async def run(self, fn: Callable[[Store], T]) -> T:
        """Call ``fn(store)`` on the store thread and return its result."""
        if self._store is None:
            await self.open()
        store = self._store
        if store is None:
            raise RuntimeError("the store is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, store)

    def close(self) -> None:
        if self._store is not None:
            self._executor.submit(self._store.close).result()
            self._store = None
        self._executor.shutdown(wait=True)


@dataclass
class Runtime:
    """Everything the agents of one worker share."""

    settings: Settings
    store: AsyncStore
    # Next offset to apply per topic and partition, loaded from DuckDB once per topic.
    applied_offsets: dict[str, dict[int, int]] = field(default_factory=dict)
    recommend_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    summary_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    summaries: Any = None  # streams.summarize.Summaries when summaries are enabled

    async def offsets_for(self, topic: str) -> dict[int, int]:
        if topic not in self.applied_offsets:
            self.applied_offsets[topic] = await self.store.run(lambda s: s.committed_offsets(topic))
        return self.applied_offsets[topic]

    def wake_recommender(self) -> None:
        self.recommend_wakeup.set()

    def wake_summarizer(self) -> None:
        self.summary_wakeup.set()
