"""Run :class:`Store` calls on one dedicated thread, from the worker's event loop.

DuckDB calls are blocking, so they leave the event loop. One thread (not a pool) is
deliberate: it serialises every transaction of the process, which is what makes "ingest a
batch" and "purge a user" atomic with respect to each other without extra locks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from streams.store.store import Store

__all__ = ["AsyncStore"]

T = TypeVar("T")


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
