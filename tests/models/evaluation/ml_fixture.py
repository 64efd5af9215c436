"""A small synthetic MovieLens directory (ml-latest-small layout) for end-to-end eval tests."""

from __future__ import annotations

import csv
import random
from pathlib import Path

GENRES = ("Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi", "Thriller", "Animation")


def write_movielens(
    directory: Path, users: int = 12, movies: int = 60, per_user: int = 30, seed: int = 7
) -> Path:
    """movies.csv + ratings.csv with ``users`` users of ``per_user`` ratings each.

    Ratings are 0.5-5 stars, timestamps increase per user with a few exact repeats, and every
    user has several ratings >= 4, so each yields a validation and a test target.
    """
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "movies.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["movieId", "title", "genres"])
        for movie in range(1, movies + 1):
            genres = "|".join(rng.sample(GENRES, k=rng.randint(1, 3))) if movie % 17 else "(no genres listed)"
            writer.writerow([movie, f"Movie {movie}, The ({1980 + movie % 40})", genres])
    with open(directory / "ratings.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["userId", "movieId", "rating", "timestamp"])
        for user in range(1, users + 1):
            ts = 1_000_000_000 + user * 1000
            for movie in rng.sample(range(1, movies + 1), k=per_user):
                ts += rng.choice((0, 1, 60, 3600))
                writer.writerow([user, movie, rng.choice((2.0, 3.0, 3.5, 4.0, 4.5, 5.0)), ts])
    return directory
