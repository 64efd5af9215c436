"""The summary policy: one block per update normally, folding when behind, rebuilds never fold.

The summarizer here is an in-process stand-in that echoes what it was asked (so the tests can
see which blocks went into which version); Triton itself is exercised in tests/e2e.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from serving.summarizer_client import SummaryResult
from streams.agents import Runtime, Summaries
from streams.settings import Settings
from streams.store import AsyncStore
from tests.streams.factories import click

B = 5


class EchoSummarizer:
    """Returns 'S<n>' per prompt and records every call's prompts."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    async def summarize(self, prompts: Sequence[str]) -> SummaryResult:
        self.calls.append(list(prompts))
        return SummaryResult(
            texts=[f"S{len(self.calls)}.{i}" for i in range(len(prompts))],
            model_name="echo",
            model_version="1",
            latency_ms=1.0,
        )


def _service(tmp_path: Path, **overrides: object) -> tuple[Summaries, EchoSummarizer]:
    settings = Settings(data_dir=tmp_path, **overrides)  # type: ignore[arg-type]
    runtime = Runtime(settings=settings, store=AsyncStore(str(tmp_path / "db.duckdb")))
    client = EchoSummarizer()
    return Summaries(runtime=runtime, client=client), client  # type: ignore[arg-type]


async def _ingest(service: Summaries, user: str, n: int) -> None:
    rows = [click(user, f"i{k}", 1000 + k) for k in range(n)]
    await service.runtime.store.run(lambda s: s.ingest.clicks("clicks", rows, {0: 10**6}))


def test_one_block_per_update_while_keeping_up(tmp_path: Path) -> None:
    async def scenario() -> None:
        service, client = _service(tmp_path, summary_fold_after=4)
        await _ingest(service, "u", 12)  # 2 complete blocks: not behind
        assert await service.step() == 1
        assert await service.step() == 1
        assert await service.step() == 0
        chain = await service.runtime.store.run(lambda s: s.summaries.chain("u"))
        assert [(r.version, r.blocks, r.interactions_covered) for r in chain] == [(1, 1, 5), (2, 1, 10)]
        # Version 2 is LLM(summary_1, block_2): its prompt carries version 1's text.
        assert "S1.0" in client.calls[1][0]
        service.runtime.store.close()

    asyncio.run(scenario())


def test_folds_pending_blocks_when_behind_and_skips_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        service, client = _service(tmp_path, summary_fold_after=2, summary_max_fold=3)
        await _ingest(service, "u", 37)  # 7 blocks pending > 2: behind
        while await service.step():
            pass
        chain = await service.runtime.store.run(lambda s: s.summaries.chain("u"))
        assert [r.blocks for r in chain] == [3, 3, 1]  # 7 blocks, at most 3 per update
        assert chain[-1].interactions_covered == 35
        for before, after in zip(chain, chain[1:], strict=False):
            assert after.first_seq == before.through_seq + 1
        service.runtime.store.close()

    asyncio.run(scenario())


def test_batches_users_into_one_call(tmp_path: Path) -> None:
    async def scenario() -> None:
        service, client = _service(tmp_path, summary_batch=16)
        for user in ("a", "b", "c"):
            await _ingest(service, user, 5)
        assert await service.step() == 3
        assert len(client.calls) == 1 and len(client.calls[0]) == 3
        service.runtime.store.close()

    asyncio.run(scenario())


def test_rebuild_never_folds_and_claimed_users_are_left_alone(tmp_path: Path) -> None:
    async def scenario() -> None:
        service, _client = _service(tmp_path, summary_fold_after=1)
        await _ingest(service, "u", 20)
        service.claimed.add("u")
        assert await service.step() == 0, "the background loop must not touch a claimed user"
        assert await service.rebuild("u") == 4
        chain = await service.runtime.store.run(lambda s: s.summaries.chain("u"))
        assert [(r.blocks, r.mode) for r in chain] == [(1, "rebuild")] * 4
        service.runtime.store.close()

    asyncio.run(scenario())
