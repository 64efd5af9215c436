"""Event contracts: the JSON values on every streamrec topic.

Each contract is a pydantic model because the wire is untrusted: producers are other teams'
services, replays of old files, and people typing into a console producer. Pydantic in strict
mode gives us precise, per-field reasons ("wrong type for 'ts'") that go straight into the
dead-letter record, which is what makes a dead-letter topic useful to the producer who reads it.

Contracts never coerce types ("5" is not a rating) and ignore unknown extra fields, so a
producer can add a field before consumers know it without breaking them. Every value carries
``schema_version``; an unknown version is rejected instead of being half-understood.

Any change to a contract here needs a CHANGELOG entry.
"""

from __future__ import annotations

import math
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "ID_FORBIDDEN_CATEGORIES",
    "TEXT_FORBIDDEN_CATEGORIES",
    "SCHEMA_VERSION",
    "EVENT_TYPES",
    "Click",
    "Item",
    "Deletion",
    "RecommendedItem",
    "ModelRef",
    "Recommendation",
    "DeletionStatus",
    "DeadLetter",
]

SCHEMA_VERSION: Literal[1] = 1

EventType = Literal["click", "view", "like", "dislike", "rating"]
EVENT_TYPES: tuple[str, ...] = ("click", "view", "like", "dislike", "rating")

# Characters no id may contain (Unicode general categories): controls (Cc, which includes NUL,
# DEL and C1), invisible format characters (Cf: zero-width joiners, bidi overrides that make
# two different ids look the same in a log), surrogates (Cs), private use (Co), and the
# line/paragraph separators (Zl, Zp) that split a log line.
ID_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
# Single-line text (titles, categories) additionally may not break lines; descriptions may
# contain tab, newline and carriage return, and no other control character.
TEXT_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
_TEXT_ALLOWED_CONTROLS = frozenset("\t\n\r")


def _forbidden(text: str, categories: frozenset[str], allowed: frozenset[str] = frozenset()) -> str | None:
    # Fast path, exact: ``str.isprintable`` is False for every character of Cc, Cf, Cs, Co, Zl
    # and Zp (and of Cn and most of Zs), so a printable text has nothing to find. The loop
    # below costs a ``unicodedata`` call per character, which showed in the ingest profile;
    # ``tests/streams/contracts/test_fast_paths.py`` checks the claim on every code point.
    if text.isprintable():
        return None
    for char in text:
        if char not in allowed and unicodedata.category(char) in categories:
            return f"U+{ord(char):04X} ({unicodedata.category(char)})"
    return None


def _plain_id(value: str) -> str:
    if value.isprintable():  # _forbidden's fast path, without its call: three ids per click
        return value
    bad = _forbidden(value, ID_FORBIDDEN_CATEGORIES)
    if bad is not None:
        raise ValueError(f"ids may not contain control, format, surrogate or separator characters: {bad}")
    return value


def _single_line(value: str) -> str:
    bad = _forbidden(value, TEXT_FORBIDDEN_CATEGORIES)
    if bad is not None:
        raise ValueError(f"single-line text may not contain control or line-separator characters: {bad}")
    return value


def _multi_line(value: str) -> str:
    bad = _forbidden(value, TEXT_FORBIDDEN_CATEGORIES, _TEXT_ALLOWED_CONTROLS)
    if bad is not None:
        raise ValueError(f"text may not contain control characters other than tab and newlines: {bad}")
    return value


# Ids are opaque strings, compared code point by code point (no normalization). The bounds
# keep a hostile producer from storing megabyte "ids"; the alphabet is everything printable
# (any script, spaces, emoji) minus ID_FORBIDDEN_CATEGORIES.
Id = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(_plain_id)]
EpochMs = Annotated[int, Field(ge=0, le=32_503_680_000_000)]  # up to year 3000


class _Contract(BaseModel):
    """Shared settings: strict types, frozen values, extra fields ignored (forward compatible)."""

    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")

    schema_version: Literal[1]


class Click(_Contract):
    """One user interaction. Topic ``clicks``, key ``user_id``.

    ``event_id`` is optional: when absent the ingest agent derives a content hash, so a
    producer that re-sends the same event gets an idempotent effect. ``ts`` defaults to the
    Kafka record timestamp.
    """

    event_id: Id | None = None
    user_id: Id
    item_id: Id
    event_type: EventType
    rating: float | None = None
    ts: EpochMs | None = None

    @field_validator("rating", mode="before")
    @classmethod
    def _rating_is_number(cls, value: Any) -> Any:
        # Strict mode rejects ints for float fields; a rating of 4 is still a number.
        if isinstance(value, bool):
            raise ValueError("rating must be a number, not a boolean")
        if isinstance(value, int):
            if abs(value) > 2**53:  # float(10**400) raises OverflowError, not a ValueError
                raise ValueError("rating must be a finite number in [0, 10]")
            return float(value)
        return value

    @field_validator("rating")
    @classmethod
    def _rating_is_finite(cls, value: float | None) -> float | None:
        if value is not None and not (math.isfinite(value) and 0.0 <= value <= 10.0):
            raise ValueError(f"rating must be a finite number in [0, 10], got {value!r}")
        return value

    @model_validator(mode="after")
    def _rating_event_has_rating(self) -> Click:
        if self.event_type == "rating" and self.rating is None:
            raise ValueError("event_type 'rating' requires a 'rating' value")
        return self


class Item(_Contract):
    """A catalog upsert. Topic ``items``, key ``item_id``. The newest value wins."""

    item_id: Id
    title: Annotated[str, Field(min_length=1, max_length=1_000), AfterValidator(_single_line)]
    description: Annotated[str, Field(max_length=10_000), AfterValidator(_multi_line)] | None = None
    categories: Annotated[
        list[Annotated[str, Field(max_length=200), AfterValidator(_single_line)]], Field(max_length=64)
    ] = []
    attributes: dict[str, Any] = {}


class Deletion(_Contract):
    """A "forget me" request. Topic ``deletions``, key ``user_id``.

    Without ``item_ids`` every interaction of the user is forgotten; with them, only the
    interactions with those items. ``requested_at`` is the boundary for replays: events of
    the user (or of those items) with ``ts`` at or before it are never stored again.
    """

    request_id: Id
    user_id: Id
    item_ids: Annotated[list[Id], Field(min_length=1, max_length=10_000)] | None = None
    requested_at: EpochMs


class RecommendedItem(BaseModel):
    """One ranked entry of a recommendation."""

    model_config = ConfigDict(strict=True, frozen=True)

    item_id: Id
    score: float
    rank: Annotated[int, Field(ge=1)]


class ModelRef(BaseModel):
    """Which model produced the scores, so consumers can attribute quality changes."""

    model_config = ConfigDict(strict=True, frozen=True)

    name: str
    version: str


class Recommendation(_Contract):
    """Top-K items for a user. Topic ``recommendations``, key ``user_id``.

    ``items`` is sorted by score descending, rank 1 first. ``fallback`` is true when the
    scores are a popularity ranking because the LLM scorer was unreachable.
    ``summary_version`` is the user's summary version the prompt used (null: none yet).
    """

    user_id: Id
    items: list[RecommendedItem]
    model: ModelRef
    trigger_event_id: str
    generated_at: EpochMs
    latency_ms: float
    fallback: bool
    summary_version: int | None = None  # the preference-summary version in the prompt

    @model_validator(mode="after")
    def _ranked(self) -> Recommendation:
        ranks = [item.rank for item in self.items]
        if ranks != list(range(1, len(ranks) + 1)):
            raise ValueError(f"ranks must be 1..K in order, got {ranks}")
        scores = [item.score for item in self.items]
        if any(a < b for a, b in zip(scores, scores[1:], strict=False)):
            raise ValueError("items must be sorted by score descending")
        return self


class DeletionStatus(_Contract):
    """Progress of a deletion request. Topic ``deletion-status``, key ``user_id``.

    ``retrained`` (added within schema_version 1: a new value, no new field) follows ``purged``
    once every adapter shard that learned from the data has been retrained without it. The raw
    user id was erased at ``purged``, so a ``retrained`` status carries the salted user key in
    ``user_id``; match it to the request by ``request_id``.
    """

    request_id: Id
    user_id: Id
    stage: Literal["received", "purged", "retrained", "failed"]
    detail: str
    at: EpochMs


class DeadLetter(_Contract):
    """A record that could not be processed, with the reason. Topic ``dead-letters``.

    ``value`` is the raw record value as text, or base64 when it is not valid UTF-8
    (``value_encoding`` says which), so the original bytes are always recoverable.
    """

    source_topic: str
    partition: int
    offset: int
    error: str
    value: str
    value_encoding: Literal["utf-8", "base64"]
    key: str | None = None
