"""``split_batch``: skip what was applied, dead-letter what is invalid, advance offsets over both."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar, cast

from pydantic import BaseModel

from streams.contracts import Click, Item
from streams.delivery import ParsedBatch, RawMessage, split_batch

MAX_BYTES = 64 * 1024
ContractT = TypeVar("ContractT", bound=BaseModel)


@dataclass(frozen=True)
class Msg:
    """A fake ``faust.types.Message`` implementing the ``RawMessage`` protocol."""

    partition: int
    offset: int
    value: bytes | None
    timestamp: float = 1_700_000_000.0
    key: bytes | None = None
    topic: str = "clicks"


def split(
    messages: Sequence[Msg],
    contract: type[ContractT],
    applied: Mapping[int, int] | None = None,
    max_bytes: int = MAX_BYTES,
) -> ParsedBatch[ContractT]:
    """split_batch over fakes. The protocol declares settable attributes, which a frozen
    dataclass (and a read-only property) does not satisfy for mypy, hence the cast."""
    return split_batch(cast("list[RawMessage]", list(messages)), contract, applied or {}, max_bytes)


def good(user: str = "u1", item: str = "i1") -> bytes:
    return json.dumps({"schema_version": 1, "user_id": user, "item_id": item, "event_type": "click"}).encode()


def test_all_valid_messages_are_accepted_in_order() -> None:
    """Valid records come back as contracts, in input order, with their coordinates."""
    messages = [Msg(0, 5, good(item="a")), Msg(1, 9, good(item="b")), Msg(0, 6, good(item="c"))]
    batch = split(messages, Click)
    assert [a.value.item_id for a in batch.accepted] == ["a", "b", "c"]
    assert [(a.partition, a.offset) for a in batch.accepted] == [(0, 5), (1, 9), (0, 6)]
    assert batch.dead == []
    assert batch.skipped == 0
    assert batch.next_offsets == {0: 7, 1: 10}


def test_timestamp_is_converted_to_milliseconds() -> None:
    """Faust gives seconds as a float; accepted records carry integer epoch ms."""
    batch = split([Msg(0, 0, good(), timestamp=1_700_000_000.123)], Click)
    assert batch.accepted[0].timestamp_ms == 1_700_000_000_123
    assert isinstance(batch.accepted[0].timestamp_ms, int)


def test_offsets_below_applied_are_skipped() -> None:
    """Redelivered records (offset < stored next offset) are counted as skipped, not re-applied."""
    messages = [Msg(0, 3, good()), Msg(0, 4, good()), Msg(0, 5, good(item="new")), Msg(1, 0, good())]
    batch = split(messages, Click, {0: 5})
    assert batch.skipped == 2
    assert [(a.partition, a.offset) for a in batch.accepted] == [(0, 5), (1, 0)]
    assert batch.accepted[0].value.item_id == "new"
    assert batch.next_offsets == {0: 6, 1: 1}


def test_applied_is_per_partition() -> None:
    """An applied offset for partition 0 does not skip the same offset on partition 1."""
    batch = split([Msg(0, 2, good()), Msg(1, 2, good())], Click, {0: 10})
    assert batch.skipped == 1
    assert [a.partition for a in batch.accepted] == [1]


def test_fully_redelivered_batch_has_no_offsets() -> None:
    """If everything was applied before, there is nothing to commit."""
    batch = split([Msg(0, 0, good()), Msg(0, 1, b"junk")], Click, {0: 2})
    assert batch.skipped == 2
    assert batch.accepted == []
    assert batch.dead == []
    assert batch.next_offsets == {}


def test_rejected_records_advance_offsets_and_become_dead_letters() -> None:
    """An invalid record is dead-lettered with its coordinates, and its offset is still consumed."""
    messages = [
        Msg(2, 10, good()),
        Msg(2, 11, b"{oops", key=b"u1"),
        Msg(3, 7, b"\xff\xfe", topic="clicks"),
    ]
    batch = split(messages, Click)
    assert [a.offset for a in batch.accepted] == [10]
    assert batch.next_offsets == {2: 12, 3: 8}
    assert [(d.partition, d.offset) for d in batch.dead] == [(2, 11), (3, 7)]
    first, second = batch.dead
    assert first.source_topic == "clicks"
    assert first.error.startswith("not JSON")
    assert first.value == "{oops"
    assert first.key == "u1"
    assert second.value_encoding == "base64"
    assert base64.b64decode(second.value) == b"\xff\xfe"


def test_oversized_records_use_the_given_limit() -> None:
    """max_bytes is passed through to validation."""
    raw = good()
    batch = split([Msg(0, 0, raw)], Click, max_bytes=len(raw) - 1)
    assert batch.accepted == []
    assert batch.dead[0].error.startswith("oversized")
    assert batch.next_offsets == {0: 1}


def test_next_offset_is_the_per_partition_max_even_out_of_order() -> None:
    """Out-of-order offsets within a partition still commit past the highest one."""
    messages = [Msg(0, 9, good()), Msg(0, 4, good()), Msg(1, 1, b"bad"), Msg(1, 0, good())]
    batch = split(messages, Click)
    assert batch.next_offsets == {0: 10, 1: 2}


def test_null_value_is_dead_lettered() -> None:
    """A tombstone record on an event topic is rejected, not skipped silently."""
    batch = split([Msg(0, 0, None)], Click)
    assert len(batch.dead) == 1
    assert "empty value" in batch.dead[0].error
    assert batch.next_offsets == {0: 1}


def test_contract_selects_the_schema() -> None:
    """A valid click is an invalid item: the contract argument decides."""
    batch = split([Msg(0, 0, good(), topic="items")], Item)
    assert batch.accepted == []
    assert batch.dead[0].source_topic == "items"
    assert "missing field: title" in batch.dead[0].error


def test_empty_input() -> None:
    """No messages, nothing to do."""
    batch = split([], Click, {0: 3})
    assert (batch.accepted, batch.dead, batch.next_offsets, batch.skipped) == ([], [], {}, 0)
