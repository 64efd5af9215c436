"""After a rebalance the ingest partitions start where DuckDB says, not where the consumer group does.

The CI failure this guards against: a topic recreated under a running worker, whose consumer
group had already committed positions in the new topic before the worker fail-stopped. The
restarted worker started from the group's offsets at the end of the log; no record arrived to
trip the gap guard, so the records below were never read.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from faust.types import TP

from streams.agents.runtime import Runtime
from streams.contracts import CLICKS, DELETIONS, ITEMS
from streams.settings import Settings
from streams.store import AsyncStore, Store


def test_assigned_ingest_partitions_start_at_the_stored_offsets(tmp_path: Path) -> None:
    database = tmp_path / "db.duckdb"
    store = Store(database)
    try:
        store.ingest.clicks(CLICKS, [], {0: 17, 2: 5})
    finally:
        store.close()
    runtime = Runtime(settings=Settings(data_dir=tmp_path), store=AsyncStore(str(database)))
    runtime.applied_offsets[CLICKS] = {0: 999}  # a stale cache must not win over DuckDB
    assigned = frozenset({TP(CLICKS, 0), TP(CLICKS, 1), TP(CLICKS, 2), TP(ITEMS, 3), TP(DELETIONS, 0)})
    try:
        positions = asyncio.run(runtime.start_positions(assigned))
    finally:
        runtime.store.close()

    # Partitions with nothing stored start at 0; deletions keep the group's offsets.
    assert positions == {TP(CLICKS, 0): 17, TP(CLICKS, 1): 0, TP(CLICKS, 2): 5, TP(ITEMS, 3): 0}
    assert runtime.applied_offsets[CLICKS] == {0: 17, 2: 5}
