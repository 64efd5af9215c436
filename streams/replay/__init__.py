"""Replaying datasets into Kafka as live traffic: MovieLens parsing, publishing, and finding data.

Import from here: ``from streams.replay import replay_movielens, find_dataset``.
"""

from streams.replay.datasets import DEFAULT_MIND, DEFAULT_MOVIELENS, find_dataset
from streams.replay.movielens import MovieLens, first_per_user, load_movielens, select_users
from streams.replay.publisher import ReplayResult, replay_movielens

__all__ = [
    "DEFAULT_MIND",
    "DEFAULT_MOVIELENS",
    "MovieLens",
    "ReplayResult",
    "find_dataset",
    "first_per_user",
    "load_movielens",
    "replay_movielens",
    "select_users",
]
