"""Publish a MovieLens dataset to Kafka: the catalog first, then ratings in timestamp order.

Items go first so that, by the time a user's clicks are ingested, their movies are
candidates. Ratings keep the dataset's global time order, so the stream looks like live
traffic replayed at ``rate`` records per second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from streams.contracts import CLICKS, ITEMS, Click
from streams.kafka import ContractProducer
from streams.kafka_security import PLAINTEXT, KafkaSecurity
from streams.replay.movielens import first_per_user, load_movielens

__all__ = ["ReplayResult", "replay_movielens"]


@dataclass(frozen=True)
class ReplayResult:
    items: int
    clicks: int
    last_event_by_user: dict[str, str]  # user -> event_id of their last published click
    clicks_by_user: dict[str, list[Click]]


def replay_movielens(
    bootstrap: str,
    path: Path,
    *,
    users: Sequence[str] | None = None,
    per_user_limit: int | None = None,
    rate: float = 0.0,
    publish_items: bool = True,
    progress: bool = True,
    security: KafkaSecurity = PLAINTEXT,
) -> ReplayResult:
    """Publish and flush; raises if the broker did not acknowledge every record."""
    data = load_movielens(path, users=users)
    clicks = first_per_user(data.clicks, per_user_limit) if per_user_limit else data.clicks
    with ContractProducer(bootstrap, security=security) as producer:
        if publish_items:
            producer.send_all(
                ITEMS,
                ((item.item_id, item) for item in data.items),
                total=len(data.items),
                progress=progress,
                description="items",
            )
            producer.flush()
        producer.send_all(
            CLICKS,
            ((click.user_id, click) for click in clicks),
            rate=rate,
            total=len(clicks),
            progress=progress,
            description="clicks",
        )
    by_user: dict[str, list[Click]] = {}
    for click in clicks:
        by_user.setdefault(click.user_id, []).append(click)
    return ReplayResult(
        items=len(data.items) if publish_items else 0,
        clicks=len(clicks),
        last_event_by_user={u: cs[-1].event_id or "" for u, cs in by_user.items()},
        clicks_by_user=by_user,
    )
