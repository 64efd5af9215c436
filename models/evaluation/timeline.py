"""Who interacted with an item before a given time: the leakage-safe base of the count models.

Popularity and co-occurrence must be computed, for each target, from interactions strictly
before that target's ``cutoff_ts``; otherwise a movie that became popular after the user's
test rating would look predictable. Instead of one snapshot per target, every item keeps its
interactions sorted by time, and a binary search finds the prefix before any cutoff.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from models.evaluation.data import Dataset

__all__ = ["ItemTimeline"]

_EMPTY_TS = np.empty(0, dtype=np.int64)
_EMPTY_USERS = np.empty(0, dtype=np.int64)


class ItemTimeline:
    """Per item: interaction timestamps (sorted) and the interacting users' indices."""

    def __init__(self, dataset: Dataset) -> None:
        self.user_index = {user: k for k, user in enumerate(dataset.histories)}
        per_item: dict[str, list[tuple[int, int]]] = {}
        for user, history in dataset.histories.items():
            u = self.user_index[user]
            for interaction in history:
                per_item.setdefault(interaction.item_id, []).append((interaction.ts, u))
        self._ts: dict[str, npt.NDArray[np.int64]] = {}
        self._users: dict[str, npt.NDArray[np.int64]] = {}
        for item, rows in per_item.items():
            rows.sort()
            self._ts[item] = np.fromiter((ts for ts, _ in rows), dtype=np.int64, count=len(rows))
            self._users[item] = np.fromiter((u for _, u in rows), dtype=np.int64, count=len(rows))

    @property
    def n_users(self) -> int:
        return len(self.user_index)

    def count_before(self, item_id: str, cutoff_ts: int) -> int:
        """Interactions with ``item_id`` at ``ts < cutoff_ts``."""
        return int(np.searchsorted(self._ts.get(item_id, _EMPTY_TS), cutoff_ts, side="left"))

    def users_before(self, item_id: str, cutoff_ts: int) -> npt.NDArray[np.int64]:
        """Indices of users who interacted with ``item_id`` at ``ts < cutoff_ts``."""
        return self._users.get(item_id, _EMPTY_USERS)[: self.count_before(item_id, cutoff_ts)]
