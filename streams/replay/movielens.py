"""Read MovieLens (ml-latest-small layout) as streamrec contracts: items and rating clicks.

Pure parsing, no Kafka: the replay command and tests both use it. Event ids are derived from
(user, movie, timestamp), so replaying the same file twice is idempotent downstream.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from streams.contracts import SCHEMA_VERSION, Click, Item
from streams.replay.datasets import DEFAULT_MOVIELENS

__all__ = ["MovieLens", "first_per_user", "load_movielens", "select_users"]

_YEAR = re.compile(r"\((\d{4})\)\s*$")


@dataclass(frozen=True)
class MovieLens:
    items: list[Item]
    clicks: list[Click]  # sorted by (ts, user_id, item_id)


def _item(row: dict[str, str]) -> Item:
    genres = [g for g in row["genres"].split("|") if g and g != "(no genres listed)"]
    year = _YEAR.search(row["title"])
    attributes: dict[str, object] = {"source": "movielens"}
    if year:
        attributes["year"] = int(year.group(1))
    return Item(
        schema_version=SCHEMA_VERSION,
        item_id=row["movieId"],
        title=row["title"].strip(),
        categories=genres,
        attributes=attributes,
    )


def _click(row: dict[str, str]) -> Click:
    ts = int(row["timestamp"]) * 1000
    return Click(
        schema_version=SCHEMA_VERSION,
        event_id=f"ml-{row['userId']}-{row['movieId']}-{row['timestamp']}",
        user_id=row["userId"],
        item_id=row["movieId"],
        event_type="rating",
        rating=float(row["rating"]),
        ts=ts,
    )


def load_movielens(path: Path = DEFAULT_MOVIELENS, users: Iterable[str] | None = None) -> MovieLens:
    """Load movies and ratings; ``users`` restricts the ratings to those user ids."""
    if not (path / "movies.csv").is_file() or not (path / "ratings.csv").is_file():
        raise FileNotFoundError(f"{path} does not look like ml-latest-small (movies.csv, ratings.csv)")
    wanted = set(users) if users is not None else None
    with open(path / "movies.csv", newline="", encoding="utf-8") as f:
        items = [_item(row) for row in csv.DictReader(f)]
    with open(path / "ratings.csv", newline="", encoding="utf-8") as f:
        clicks = [_click(row) for row in csv.DictReader(f) if wanted is None or row["userId"] in wanted]
    clicks.sort(key=lambda c: (c.ts or 0, c.user_id, c.item_id))
    return MovieLens(items=items, clicks=clicks)


def select_users(path: Path, count: int, min_ratings: int) -> list[str]:
    """The ``count`` lowest user ids with at least ``min_ratings`` ratings (deterministic)."""
    per_user: dict[str, int] = {}
    with open(path / "ratings.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            per_user[row["userId"]] = per_user.get(row["userId"], 0) + 1
    eligible = sorted((u for u, n in per_user.items() if n >= min_ratings), key=int)
    return eligible[:count]


def first_per_user(clicks: Sequence[Click], limit: int) -> list[Click]:
    """Each user's first ``limit`` clicks, keeping the global time order."""
    seen: dict[str, int] = {}
    kept: list[Click] = []
    for click in clicks:
        if seen.get(click.user_id, 0) < limit:
            seen[click.user_id] = seen.get(click.user_id, 0) + 1
            kept.append(click)
    return kept
