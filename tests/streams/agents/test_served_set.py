"""A set exported before a purge but served after it: its shards holding the user get marked."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from streams.agents import Runtime
from streams.agents.served_set import ServedSetGuard
from streams.settings import Settings
from streams.store import AsyncStore, Store
from tests.streams.factories import click


def write_set(root: Path, version: str, members: dict[str, int] | None, purged: list[str] | None) -> None:
    (root / version).mkdir(parents=True)
    (root / version / "manifest.json").write_text(json.dumps({"format": 1, "shards": [{} for _ in range(4)]}))
    if purged is not None:
        (root / version / "data_cut.json").write_text(json.dumps({"purged_requests": purged}))
    if members is not None:
        table = pa.table(
            {"user_key": pa.array(list(members)), "shard": pa.array(list(members.values()), pa.int32())}
        )
        pq.write_table(table, root / version / "members.parquet")


def purge_users(store: Store, *users: str) -> None:
    store.ingest.clicks("clicks", [click(u, "i", 10, event_id=f"e-{u}") for u in users], {0: 10})
    for user in users:
        store.deletions.record(f"req-{user}", user, None, 100)
        store.deletions.purge(f"req-{user}", user, None, 100)


def test_only_requests_purged_after_the_export_are_marked(tmp_path: Path) -> None:
    async def scenario() -> None:
        settings = Settings(data_dir=tmp_path)
        runtime = Runtime(settings=settings, store=AsyncStore(str(tmp_path / "db.duckdb")))
        await runtime.store.run(lambda s: purge_users(s, "ann", "ben", "cat"))
        keys = await runtime.store.run(lambda s: {u: s.user_key(u) for u in ("ann", "ben", "cat")})
        # The set knew ann's purge; ben's came later and ben is in shard 3; cat has no samples.
        write_set(settings.adapters_dir, "v0002", {keys["ann"]: 1, keys["ben"]: 3}, ["req-ann"])
        guard = ServedSetGuard(runtime)
        assert await guard.check("v0002") == 1
        marks = await runtime.store.run(lambda s: s.dirty.active())
        assert [(m.shard, m.adapter_set, m.request_id) for m in marks] == [(3, "v0002", "req-ben")]
        assert await guard.check("v0002") == 0, "each set is checked once"
        assert await guard.check("zero-shot") == 0
        runtime.store.close()

    asyncio.run(scenario())


def test_a_set_that_records_nothing_is_assumed_to_hold_everyone_everywhere(tmp_path: Path) -> None:
    async def scenario() -> None:
        settings = Settings(data_dir=tmp_path)
        runtime = Runtime(settings=settings, store=AsyncStore(str(tmp_path / "db.duckdb")))
        await runtime.store.run(lambda s: purge_users(s, "ann"))
        write_set(settings.adapters_dir, "v0001", None, None)
        assert await ServedSetGuard(runtime).check("v0001") == 4
        assert await runtime.store.run(lambda s: s.dirty.excluded()) == frozenset({0, 1, 2, 3})
        runtime.store.close()

    asyncio.run(scenario())
