"""Builders for the end-to-end tests: catalog, clicks and deletions as real contract values."""

from __future__ import annotations

import time

from streams.contracts import CLICKS, DELETIONS, ITEMS, SCHEMA_VERSION, Click, Deletion, Item
from streams.kafka import ContractProducer

GENRES = ["Drama", "Comedy", "Action", "Sci-Fi", "Romance"]


def catalog(uid: str, count: int) -> list[Item]:
    return [
        Item(
            schema_version=SCHEMA_VERSION,
            item_id=f"{uid}-m{i}",
            title=f"Movie {i} of {uid}",
            categories=[GENRES[i % len(GENRES)]],
            attributes={"year": 1990 + i},
        )
        for i in range(count)
    ]


def clicks(user_id: str, item_ids: list[str], start_ts: int = 1_600_000_000_000) -> list[Click]:
    return [
        Click(
            schema_version=SCHEMA_VERSION,
            event_id=f"{user_id}-e{n}",
            user_id=user_id,
            item_id=item_id,
            event_type="rating" if n % 2 == 0 else "click",
            rating=4.0 if n % 2 == 0 else None,
            ts=start_ts + n * 1000,
        )
        for n, item_id in enumerate(item_ids)
    ]


def publish(bootstrap: str, items: list[Item] = (), events: list[Click] = ()) -> None:  # type: ignore[assignment]
    with ContractProducer(bootstrap) as producer:
        for item in items:
            producer.send(ITEMS, item.item_id, item)
        producer.flush()
        for event in events:
            producer.send(CLICKS, event.user_id, event)


def deletion(request_id: str, user_id: str, item_ids: list[str] | None = None) -> Deletion:
    return Deletion(
        schema_version=SCHEMA_VERSION,
        request_id=request_id,
        user_id=user_id,
        item_ids=item_ids,
        requested_at=int(time.time() * 1000),
    )


def request_deletion(bootstrap: str, request: Deletion) -> None:
    with ContractProducer(bootstrap) as producer:
        producer.send(DELETIONS, request.user_id, request)
