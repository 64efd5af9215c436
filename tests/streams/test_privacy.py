"""No raw user id in logs, metric labels or dead letters, beyond the rejected raw value itself.

A user clicks (one valid click, one malformed one keyed by their id), then asks to be
forgotten (one valid request, one malformed one). Everything the worker logged at DEBUG and
every label of every Prometheus metric must be free of the id, and in each dead letter the id
may appear only inside ``value`` (the rejected bytes, kept so the producer can fix them):
the record key and the ``key`` field carry the salted user key instead.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from streams.agents.clicks import handle_click_batch
from streams.agents.deletions import handle_deletion_batch
from streams.agents.runtime import Runtime
from streams.settings import Settings
from streams.store import AsyncStore
from tests.streams.agent_fakes import Event, Msg, fail_stop_raises, fake_topics

USER = "zelda-PII-7731"


def _click(**fields: object) -> bytes:
    return json.dumps({"schema_version": 1, "user_id": USER, "item_id": "i1", **fields}).encode()


def test_user_id_stays_out_of_logs_labels_and_dead_letter_metadata(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    topics = fake_topics()
    key = USER.encode()
    clicks = [
        Event(Msg("clicks", 0, 0, _click(event_type="click"), key)),
        Event(Msg("clicks", 0, 1, _click(event_type="purchase"), key)),  # a dead letter
    ]
    deletions = [
        Event(Msg("deletions", 0, 0, json.dumps({"schema_version": 1, "user_id": USER}).encode(), key)),
        Event(
            Msg(
                "deletions",
                0,
                1,
                json.dumps(
                    {
                        "schema_version": 1,
                        "request_id": "r1",
                        "user_id": USER,
                        "requested_at": 2_000_000_000_000,
                    }
                ).encode(),
                key,
            )
        ),
    ]

    async def scenario() -> str:
        runtime = Runtime(settings=Settings(data_dir=tmp_path), store=AsyncStore(":memory:"))
        try:
            await handle_click_batch(runtime, topics, clicks)  # type: ignore[arg-type]
            handled = await handle_deletion_batch(runtime, topics, None, deletions)  # type: ignore[arg-type]
            assert handled == 1
            return await runtime.store.run(lambda s: s.user_key(USER))
        finally:
            runtime.store.close()

    with caplog.at_level(logging.DEBUG), fail_stop_raises():
        salted = asyncio.run(scenario())

    logged = [record.getMessage() for record in caplog.records]
    assert logged, "the scenario should log something (dead letters at least)"
    assert not [line for line in logged if USER in line]

    for family in REGISTRY.collect():
        for sample in family.samples:
            assert USER not in " ".join(sample.labels.values()), (sample.name, sample.labels)

    sent = topics.dead_letters.sent  # type: ignore[attr-defined]
    assert len(sent) == 2
    for record_key, value in sent:
        letter = json.loads(value)
        assert record_key == salted.encode()
        assert letter["key"] == salted
        assert USER in letter["value"]  # the rejected bytes themselves are kept
        assert USER not in json.dumps({k: v for k, v in letter.items() if k != "value"})
