"""Event contracts: the JSON values on every topic, their validation, and the topic names.

Kept light on purpose (pydantic only): producers and tests import the event types without
loading Faust, DuckDB or torch. Import from here: ``from streams.contracts import Click``.
"""

from streams.contracts.events import (
    EVENT_TYPES,
    SCHEMA_VERSION,
    Click,
    DeadLetter,
    Deletion,
    DeletionStatus,
    Item,
    ModelRef,
    Recommendation,
    RecommendedItem,
)
from streams.contracts.topics import (
    ALL_TOPICS,
    CLICKS,
    DEAD_LETTER_RETENTION_MS,
    DEAD_LETTERS,
    DELETION_STATUS,
    DELETIONS,
    ITEMS,
    RECOMMENDATIONS,
    TOPIC_CONFIGS,
)
from streams.contracts.validation import DEFAULT_MAX_BYTES, dead_letter_for, derive_event_id, parse_event

__all__ = [
    "ALL_TOPICS",
    "CLICKS",
    "DEAD_LETTERS",
    "DEAD_LETTER_RETENTION_MS",
    "DEFAULT_MAX_BYTES",
    "DELETIONS",
    "DELETION_STATUS",
    "EVENT_TYPES",
    "ITEMS",
    "RECOMMENDATIONS",
    "SCHEMA_VERSION",
    "TOPIC_CONFIGS",
    "Click",
    "DeadLetter",
    "Deletion",
    "DeletionStatus",
    "Item",
    "ModelRef",
    "Recommendation",
    "RecommendedItem",
    "dead_letter_for",
    "derive_event_id",
    "parse_event",
]
