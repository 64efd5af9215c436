"""What a recommendation reads: the user's recent history and the retrieved candidates.

Read-only SQL over the live tables. Retrieval is deliberately cheap and explainable (item
co-occurrence plus recent popularity) because the LLM re-ranks what it returns; its job is
recall, not order.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.types import HistoryEntry, ItemText
from streams.store.database import Database

__all__ = ["Candidate", "Retrieval"]


@dataclass(frozen=True)
class Candidate:
    """A retrieved candidate with the signals that retrieved it."""

    item: ItemText
    cooccurrence: float
    popularity: float


class Retrieval:
    def __init__(self, db: Database) -> None:
        self._db = db

    def history(self, user_id: str, limit: int) -> list[HistoryEntry]:
        """The user's most recent catalogued interactions, oldest first (prompt order)."""
        rows = self._db.con.execute(
            """
            SELECT i.item_id, it.title, it.categories, it.description, i.event_type, i.rating, i.ts
            FROM interactions i JOIN items it ON it.item_id = i.item_id
            WHERE i.user_id = ?
            ORDER BY i.ts DESC, i.source_offset DESC
            LIMIT ?
            """,
            [user_id, limit],
        ).fetchall()
        entries = [
            HistoryEntry(
                item=ItemText(
                    item_id=str(item_id),
                    title=str(title),
                    categories=tuple(categories or ()),
                    description=description,
                ),
                event_type=str(event_type),
                rating=rating,
                ts=int(ts),
            )
            for item_id, title, categories, description, event_type, rating, ts in rows
        ]
        entries.reverse()
        return entries

    def candidates(
        self,
        user_id: str,
        n: int,
        *,
        popularity_window_ms: int,
        seed_items: int = 20,
        cooccurrence_share: float = 0.75,
    ) -> list[Candidate]:
        """Retrieve up to ``n`` catalogued items the user has not interacted with.

        Two sources, both computed in SQL over the live tables:

        1. Item co-occurrence with the user's ``seed_items`` most recent positive interactions:
           ``score(c) = sum over seeds s of #users who positively interacted with both s and c``
           (computed via neighbour users weighted by their overlap with the seeds).
        2. Recent popularity: interactions in the last ``popularity_window_ms`` of *event*
           time (replays carry historic timestamps, so wall-clock windows would be empty).

        Up to ``cooccurrence_share`` of the slots go to co-occurrence, the rest to popularity,
        so a user with a narrow history still sees what is trending.
        """
        n_co = max(1, int(round(n * cooccurrence_share)))
        rows = self._db.con.execute(
            """
            WITH positive AS (
                SELECT user_id, item_id, ts FROM interactions
                WHERE event_type <> 'dislike' AND (rating IS NULL OR rating >= 3.0)
            ),
            seeds AS (
                SELECT DISTINCT item_id FROM (
                    SELECT item_id FROM positive WHERE user_id = $user ORDER BY ts DESC LIMIT $seeds)
            ),
            seen AS (SELECT DISTINCT item_id FROM interactions WHERE user_id = $user),
            neighbours AS (
                SELECT p.user_id, count(DISTINCT p.item_id) AS overlap
                FROM positive p JOIN seeds s ON p.item_id = s.item_id
                WHERE p.user_id <> $user GROUP BY p.user_id
            ),
            co AS (
                SELECT p.item_id, sum(n.overlap) AS co
                FROM (SELECT DISTINCT user_id, item_id FROM positive) p
                JOIN neighbours n ON p.user_id = n.user_id
                GROUP BY p.item_id
            ),
            pop AS (
                SELECT item_id, count(*) AS pop FROM interactions
                WHERE ts >= (SELECT coalesce(max(ts), 0) FROM interactions) - $window
                GROUP BY item_id
            ),
            scored AS (
                SELECT it.item_id, it.title, it.categories, it.description,
                       coalesce(co.co, 0) AS co, coalesce(pop.pop, 0) AS pop
                FROM items it
                LEFT JOIN co ON co.item_id = it.item_id
                LEFT JOIN pop ON pop.item_id = it.item_id
                WHERE it.item_id NOT IN (SELECT item_id FROM seen)
            ),
            ranked AS (
                SELECT *,
                       row_number() OVER (ORDER BY co DESC, pop DESC, item_id) AS r_co,
                       row_number() OVER (ORDER BY pop DESC, co DESC, item_id) AS r_pop
                FROM scored
            )
            SELECT item_id, title, categories, description, co, pop
            FROM ranked
            WHERE (co > 0 AND r_co <= $n_co) OR r_pop <= $n
            ORDER BY CASE WHEN co > 0 AND r_co <= $n_co THEN 0 ELSE 1 END,
                     CASE WHEN co > 0 AND r_co <= $n_co THEN r_co ELSE r_pop END
            LIMIT $n
            """,
            {
                "user": user_id,
                "seeds": seed_items,
                "window": popularity_window_ms,
                "n_co": n_co,
                "n": n,
            },
        ).fetchall()
        return [
            Candidate(
                item=ItemText(
                    item_id=str(item_id),
                    title=str(title),
                    categories=tuple(categories or ()),
                    description=description,
                ),
                cooccurrence=float(co),
                popularity=float(pop),
            )
            for item_id, title, categories, description, co, pop in rows
        ]

    def has_interactions(self, user_id: str) -> bool:
        row = self._db.con.execute(
            "SELECT 1 FROM interactions WHERE user_id = ? LIMIT 1", [user_id]
        ).fetchone()
        return row is not None
