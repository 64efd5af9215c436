"""How the worker's agents consume and publish without losing a record (Faust side).

* ``channel_reader``: a Faust agent's events taken from its channel in bulk, with Faust's
  own bookkeeping (tracking, stale records) but not one event-loop turn per record;
* ``intake``: micro-batches that keep filling while the previous one is stored, acknowledged
  only after it was;
* ``batching``: "skip what is already applied", dead letters with reasons, and offsets that
  advance over rejected records too;
* ``publish``: sends that wait for the broker's acknowledgement;
* ``durable``: retry a durable write, or fail-stop before Kafka commits what was not stored;
* ``gaps``: a consumer ahead of the offsets stored in DuckDB is sought back, never skipped.

Import from here: ``from streams.delivery import split_batch, durably``.
"""

from streams.delivery.batching import Accepted, ParsedBatch, RawMessage, split_batch
from streams.delivery.channel_reader import ChannelReader
from streams.delivery.durable import FAIL_STOP_EXIT_CODE, durably
from streams.delivery.gaps import Admitted, GapGuard
from streams.delivery.intake import EventSource, micro_batches
from streams.delivery.publish import send_and_wait, send_dead_letters

__all__ = [
    "FAIL_STOP_EXIT_CODE",
    "Accepted",
    "Admitted",
    "ChannelReader",
    "EventSource",
    "GapGuard",
    "ParsedBatch",
    "RawMessage",
    "durably",
    "micro_batches",
    "send_and_wait",
    "send_dead_letters",
    "split_batch",
]
