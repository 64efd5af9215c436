"""The durable queue of users waiting for a fresh recommendation (``rec_pending``).

Ingestion, summary updates and partial deletions upsert one row per user that points at the
event to answer; the recommend task reads the queue and clears a row only if it still points
at the event it answered. That one rule is "latest wins": a burst of clicks costs one ranking,
and clicks that arrive during scoring keep the user pending. The queue survives restarts
because it is a table, not memory.
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.store.database import Database, now_ms

__all__ = ["PendingRecommendation", "Pending"]


@dataclass(frozen=True)
class PendingRecommendation:
    user_id: str
    trigger_event_id: str
    updated_at: int


class Pending:
    """Reads and clears of ``rec_pending`` (its writes sit with the transactions that cause them)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def due(self, limit: int) -> list[PendingRecommendation]:
        """Users whose newest clicks have not been answered yet, oldest request first."""
        rows = self._db.con.execute(
            "SELECT user_id, trigger_event_id, updated_at FROM rec_pending "
            "ORDER BY updated_at, user_id LIMIT ?",
            [limit],
        ).fetchall()
        return [PendingRecommendation(str(u), str(t), int(a)) for u, t, a in rows]

    def clear(self, user_id: str, trigger_event_id: str) -> bool:
        """Remove a pending mark only if no newer click replaced it meanwhile (latest wins)."""
        row = self._db.con.execute(
            "DELETE FROM rec_pending WHERE user_id = ? AND trigger_event_id = ? RETURNING user_id",
            [user_id, trigger_event_id],
        ).fetchone()
        return row is not None

    def defer(self, user_id: str) -> None:
        """Move a user to the back of the pending queue (after a failed answer)."""
        self._db.con.execute("UPDATE rec_pending SET updated_at = ? WHERE user_id = ?", [now_ms(), user_id])

    def count(self) -> int:
        return self._db.count("SELECT count(*) FROM rec_pending")
