"""MovieLens (ml-latest-small layout) as an evaluation :class:`Dataset`.

Items are rendered exactly as ``streams.replay.movielens`` publishes them (title with year, the
genres as categories, "(no genres listed)" dropped), so an LLM sees the same text offline
as in the running system. Each user's ratings are ordered by timestamp; equal timestamps keep
their order in ratings.csv, which makes the split deterministic.
"""

from __future__ import annotations

import csv
from pathlib import Path

from models.evaluation.data import Dataset, Interaction
from models.types import ItemText

__all__ = ["load_movielens"]


def _item(row: dict[str, str]) -> ItemText:
    genres = tuple(g for g in row["genres"].split("|") if g and g != "(no genres listed)")
    return ItemText(item_id=row["movieId"], title=row["title"].strip(), categories=genres)


def load_movielens(path: Path) -> Dataset:
    """Read movies.csv and ratings.csv from ``path``."""
    movies, ratings = path / "movies.csv", path / "ratings.csv"
    if not movies.is_file() or not ratings.is_file():
        raise FileNotFoundError(
            f"{path} does not look like ml-latest-small (needs movies.csv and ratings.csv)"
        )
    with open(movies, newline="", encoding="utf-8") as f:
        items = {row["movieId"]: _item(row) for row in csv.DictReader(f)}
    per_user: dict[str, list[tuple[int, int, Interaction]]] = {}
    with open(ratings, newline="", encoding="utf-8") as f:
        for line, row in enumerate(csv.DictReader(f)):
            ts = int(row["timestamp"]) * 1000
            interaction = Interaction(
                item_id=row["movieId"], ts=ts, event_type="rating", rating=float(row["rating"])
            )
            per_user.setdefault(row["userId"], []).append((ts, line, interaction))
    histories = {
        user: tuple(i for _, _, i in sorted(rows, key=lambda r: (r[0], r[1])))
        for user, rows in sorted(per_user.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 0)
    }
    return Dataset(name="movielens", items=items, histories=histories, sources=(movies, ratings))
