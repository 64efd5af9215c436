"""Split a micro-batch of raw Kafka events into valid contracts, dead letters and offsets.

Shared by every batch-consuming agent so that "skip what is already applied", "reject with a
reason" and "advance the offsets over rejected records too" are implemented once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, NamedTuple, Protocol, TypeVar

from pydantic import BaseModel

from streams.contracts import DeadLetter, dead_letter_for, parse_event
from streams.exceptions import InvalidEvent

__all__ = ["RawMessage", "Accepted", "ParsedBatch", "split_batch"]

ContractT = TypeVar("ContractT", bound=BaseModel)


class RawMessage(Protocol):
    """The parts of ``faust.types.Message`` this module needs (easy to fake in unit tests)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> float: ...  # seconds since the epoch
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


class Accepted(NamedTuple, Generic[ContractT]):
    """A valid record of a batch. A named tuple: one is built per record on the event loop."""

    value: ContractT
    partition: int
    offset: int
    timestamp_ms: int


@dataclass
class ParsedBatch(Generic[ContractT]):
    accepted: list[Accepted[ContractT]] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    next_offsets: dict[int, int] = field(default_factory=dict)
    skipped: int = 0  # already applied before (redelivery after a crash)


def split_batch(
    messages: Iterable[RawMessage],
    contract: type[ContractT],
    applied: Mapping[int, int],
    max_bytes: int,
) -> ParsedBatch[ContractT]:
    """Validate each message not yet applied; ``applied`` maps partition -> next offset."""
    batch: ParsedBatch[ContractT] = ParsedBatch()
    next_offsets, accepted = batch.next_offsets, batch.accepted  # this loop runs per record
    for message in messages:
        partition, offset = message.partition, message.offset
        if offset < applied.get(partition, 0):
            batch.skipped += 1
            continue
        if offset >= next_offsets.get(partition, 0):
            next_offsets[partition] = offset + 1
        try:
            value = parse_event(message.value, contract, max_bytes)
        except InvalidEvent as exc:
            batch.dead.append(
                dead_letter_for(
                    source_topic=message.topic,
                    partition=partition,
                    offset=offset,
                    error=exc.reason,
                    raw=message.value,
                    key=message.key,
                )
            )
            continue
        accepted.append(Accepted(value, partition, offset, int(message.timestamp * 1000)))
    return batch
