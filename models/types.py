"""Plain value types shared by prompt building, scoring and the streaming side.

They are frozen dataclasses with no heavy imports, so the Kafka workers can build them from
events without loading torch. Validation happens once, here, so prompt code can trust them.
"""

import math
from dataclasses import dataclass

__all__ = ["EVENT_TYPES", "HistoryEntry", "ItemText"]

# What a user can do to an item. "rating" carries a numeric value in HistoryEntry.rating.
EVENT_TYPES: frozenset[str] = frozenset({"click", "view", "like", "dislike", "rating"})


@dataclass(frozen=True)
class ItemText:
    """The text of one item as the language model sees it."""

    item_id: str
    title: str
    categories: tuple[str, ...] = ()
    description: str | None = None

    def __post_init__(self) -> None:
        if not self.item_id:
            raise ValueError(f"ItemText.item_id must be a non-empty string, got {self.item_id!r}")
        if not isinstance(self.categories, tuple):
            # A list would make the dataclass unhashable and silently mutable.
            raise ValueError(f"ItemText.categories must be a tuple of strings, got {self.categories!r}")


@dataclass(frozen=True)
class HistoryEntry:
    """One thing a user did to an item, at ``ts`` (epoch milliseconds)."""

    item: ItemText
    event_type: str
    rating: float | None
    ts: int

    def __post_init__(self) -> None:
        if self.event_type not in EVENT_TYPES:
            raise ValueError(
                f"HistoryEntry.event_type must be one of {sorted(EVENT_TYPES)}, got {self.event_type!r}"
            )
        if self.event_type == "rating" and self.rating is None:
            raise ValueError("HistoryEntry.rating must be set when event_type is 'rating', got None")
        if self.rating is not None and not math.isfinite(self.rating):
            raise ValueError(f"HistoryEntry.rating must be finite, got {self.rating!r}")
        if self.ts < 0:
            raise ValueError(f"HistoryEntry.ts must be epoch milliseconds >= 0, got {self.ts!r}")
