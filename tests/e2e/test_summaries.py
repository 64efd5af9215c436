"""Recurrent preference summaries in the live stream: real broker, real Triton, real worker.

The summarizer is the tiny random Llama, so texts are gibberish but deterministic (greedy), which
is exactly what lets these tests recompute a chain independently through Triton and compare.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

from models.summary_prompts import merge_prompt, recurrent_prompt
from models.types import HistoryEntry, ItemText
from serving.summarizer_client import SummarizerClient
from streams.contracts import DELETION_STATUS, RECOMMENDATIONS, Click, Item
from streams.kafka import TopicReader
from tests.e2e.helpers import catalog, clicks, deletion, publish, request_deletion
from tests.fixtures.kafka import WorkerProcess, wait_until

B = 5  # the worker's default STREAMREC_SUMMARY_BLOCK


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def chain(worker: WorkerProcess, user: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{worker.url}/summaries/{user}/", timeout=10) as response:
        rows: list[dict[str, Any]] = json.loads(response.read())
        return rows


def entries(events: list[Click], items: list[Item]) -> list[HistoryEntry]:
    """The interactions as the store renders them for the summarizer."""
    by_id = {i.item_id: i for i in items}
    return [
        HistoryEntry(
            item=ItemText(
                item_id=e.item_id, title=by_id[e.item_id].title, categories=tuple(by_id[e.item_id].categories)
            ),
            event_type=e.event_type,
            rating=e.rating,
            ts=e.ts or 0,
        )
        for e in events
    ]


def summarize(url: str, prompts: list[str]) -> list[str]:
    async def call() -> list[str]:
        client = SummarizerClient(url)
        try:
            return (await client.summarize(prompts)).texts
        finally:
            await client.close()

    return asyncio.run(call())


def recurrent_chain(url: str, history: list[HistoryEntry]) -> list[str]:
    """From scratch, block by block: summary_k = LLM(summary_{k-1}, block_k)."""
    texts: list[str] = []
    for start in range(0, len(history) - len(history) % B, B):
        texts += summarize(url, [recurrent_prompt(texts[-1] if texts else None, history[start : start + B])])
    return texts


def test_twelve_clicks_give_two_versions_and_the_ranking_uses_version_two(
    worker: WorkerProcess, kafka_broker: Any, triton_server: Any, uid: str
) -> None:
    items = catalog(uid, 30)
    user = f"{uid}-twelve"
    events = clicks(user, [i.item_id for i in items[:12]])
    with TopicReader(kafka_broker.bootstrap, RECOMMENDATIONS) as recs:
        publish(kafka_broker.bootstrap, items, events)
        # Earlier e2e tests leave a backlog (the crash-recovery replay's 3,000 clicks) that the
        # summarizer and the first-come-first-served recommend queue work through first; live
        # users first is issue #11. This test checks the chain, not latency.
        got = recs.wait_for(lambda r: r.get("user_id") == user and r.get("summary_version") == 2, 300)
    assert got, f"no recommendation with summary_version 2; worker log:\n{worker.log_tail()}"
    time.sleep(1.0)  # a third version would have to appear now if blocks were miscounted
    rows = chain(worker, user)
    assert [r["version"] for r in rows] == [1, 2]
    assert [r["interactions_covered"] for r in rows] == [5, 10]
    assert rows[1]["first_seq"] == rows[0]["through_seq"] + 1
    assert rows[1]["through_event_id"] == events[9].event_id
    # Version 2 = LLM(version 1, block 2): its recorded prompt is exactly the recurrent prompt
    # built from version 1's stored text and the second block. (Texts generated live may share a
    # batch with other users, so they are compared by provenance, not recomputed.)
    history = entries(events, items)
    assert rows[0]["prompt_sha256"] == sha256(recurrent_prompt(None, history[0:5]))
    assert rows[1]["prompt_sha256"] == sha256(recurrent_prompt(rows[0]["summary"], history[5:10]))
    assert rows[0]["model_name"].startswith("summarizer") and rows[0]["latency_ms"] > 0


def test_same_input_gives_the_same_summary(triton_server: Any) -> None:
    prompt = recurrent_prompt(
        None, entries(clicks("d", ["x"] * 5), [Item(schema_version=1, item_id="x", title="X")])
    )
    first = summarize(triton_server.grpc_url, [prompt, prompt])
    second = summarize(triton_server.grpc_url, [prompt])
    assert first[0] == first[1] == second[0]


def test_chain_survives_sigkill_contiguous_and_exactly_once(
    worker: WorkerProcess, kafka_broker: Any, uid: str
) -> None:
    items = catalog(uid, 30)
    user = f"{uid}-restart"
    events = clicks(user, [i.item_id for i in items[:20]])  # 4 blocks: one version each
    publish(kafka_broker.bootstrap, items, events)
    wait_until(lambda: len(chain(worker, user)) >= 1, 120, interval_s=0.05, what="the first version")
    worker.kill()
    worker.start()
    wait_until(lambda: len(chain(worker, user)) >= 4, 120, what="the whole chain after restart")
    rows = chain(worker, user)
    assert [r["version"] for r in rows] == [1, 2, 3, 4]
    assert [r["interactions_covered"] for r in rows] == [5, 10, 15, 20]
    for before, after in zip(rows, rows[1:], strict=False):
        assert after["first_seq"] == before["through_seq"] + 1
    assert rows[-1]["through_event_id"] == events[-1].event_id


def test_partial_deletion_rebuilds_the_chain_from_retained_interactions(
    worker: WorkerProcess, kafka_broker: Any, triton_server: Any, uid: str
) -> None:
    items = catalog(uid, 30)
    user = f"{uid}-forget-some"
    events = clicks(user, [i.item_id for i in items[:15]])
    publish(kafka_broker.bootstrap, items, events)
    wait_until(lambda: len(chain(worker, user)) == 3, 120, what="three versions")
    forgotten = [items[7].item_id]  # in block 2: versions 2 and 3 derive from it

    request = deletion(f"{uid}-req", user, item_ids=forgotten)
    with TopicReader(kafka_broker.bootstrap, DELETION_STATUS) as statuses:
        request_deletion(kafka_broker.bootstrap, request)
        stages = statuses.wait_for(lambda r: r.get("request_id") == request.request_id, 120, count=2)
    assert [s["stage"] for s in stages] == ["received", "purged"], stages
    assert "2 summary version(s) derived from them deleted" in stages[1]["detail"]
    assert "chain rebuilt from scratch: 2 summary version(s)" in stages[1]["detail"]

    rows = chain(worker, user)
    retained = [e for e in events if e.item_id not in forgotten]
    assert [r["interactions_covered"] for r in rows] == [5, 10]
    assert {r["through_event_id"] for r in rows} <= {e.event_id for e in retained}
    expected = recurrent_chain(triton_server.grpc_url, entries(retained, items))
    assert [r["summary"] for r in rows] == expected, "the chain must equal a from-scratch chain"


def test_hierarchical_backfill_through_the_cli(
    kafka_broker: Any, triton_server: Any, tmp_path: Path, uid: str
) -> None:
    """A deployment with live updates off (a bulk import) backfills a user hierarchically."""
    import subprocess
    import sys

    quiet = WorkerProcess(
        tmp_path / "bulk",
        kafka_broker.bootstrap,
        triton_server.grpc_url,
        STREAMREC_APP_ID=f"bulk-{uid}",
        STREAMREC_SUMMARY_LIVE="false",
    )
    quiet.start()
    try:
        items = catalog(uid, 30)
        user = f"{uid}-bulk"
        events = clicks(user, [i.item_id for i in items[:12]])
        with TopicReader(kafka_broker.bootstrap, RECOMMENDATIONS) as recs:
            publish(kafka_broker.bootstrap, items, events)
            assert recs.wait_for(lambda r: r.get("trigger_event_id") == events[-1].event_id, 120)
        assert chain(quiet, user) == []  # nothing summarized live
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "streams.cli",
                "summarize",
                "--backfill",
                "--mode",
                "hierarchical",
                "--users",
                user,
            ],
            env=quiet.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "1 summary version(s) written" in result.stdout
        rows = chain(quiet, user)
        assert [(r["version"], r["mode"], r["blocks"], r["interactions_covered"]) for r in rows] == [
            (1, "hierarchical", 2, 10)
        ]
        history = entries(events, items)
        blocks = summarize(
            triton_server.grpc_url,
            [recurrent_prompt(None, history[0:5]), recurrent_prompt(None, history[5:10])],
        )
        assert rows[0]["prompt_sha256"] == sha256(merge_prompt(blocks))
        assert rows[0]["summary"] == summarize(triton_server.grpc_url, [merge_prompt(blocks)])[0]
    finally:
        quiet.stop()
