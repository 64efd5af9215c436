"""Small builders for store rows, so each test states only the fields it cares about."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import count

from streams.store import ClickRow, IngestResult, ItemRow, Store

_offsets: Iterator[int] = count()


def click(
    user: str,
    item: str,
    ts: int,
    *,
    event_type: str = "click",
    rating: float | None = None,
    event_id: str | None = None,
    partition: int = 0,
    offset: int | None = None,
) -> ClickRow:
    """A ClickRow; the event id defaults to user/item/type/ts so it is unique per interaction."""
    return ClickRow(
        event_id=event_id or f"{user}-{item}-{event_type}-{ts}",
        user_id=user,
        item_id=item,
        event_type=event_type,
        rating=rating,
        ts=ts,
        partition=partition,
        offset=next(_offsets) if offset is None else offset,
    )


def item(item_id: str, title: str | None = None, categories: Sequence[str] = ()) -> ItemRow:
    return ItemRow(
        item_id=item_id,
        title=title or f"Title {item_id}",
        description=None,
        categories=tuple(categories),
        attributes={},
    )


def ingest(store: Store, rows: Sequence[ClickRow], offsets: dict[int, int] | None = None) -> IngestResult:
    """Ingest into topic ``clicks``; offsets default to one past the highest row offset."""
    if offsets is None:
        offsets = {}
        for row in rows:
            offsets[row.partition] = max(offsets.get(row.partition, 0), row.offset + 1)
    return store.ingest.clicks("clicks", rows, offsets)


def add_items(store: Store, *item_ids: str) -> None:
    store.ingest.items("items", [item(i) for i in item_ids], {})
