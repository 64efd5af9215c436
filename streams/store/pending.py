"""The durable queue of users waiting for a fresh recommendation (``rec_pending``).

Ingestion, summary updates and partial deletions upsert one row per user that points at the
event to answer; the recommend task reads the queue and clears a row only if it still points
at the event it answered. That one rule is "latest wins": a burst of clicks costs one ranking,
and clicks that arrive during scoring keep the user pending. The queue survives restarts
because it is a table, not memory, and it is bounded by construction: one row per user, however
many clicks wait behind it.

**Two lanes.** A bulk replay or backfill can leave thousands of users pending, and a user who
clicks now must not wait behind all of them. A mark whose trigger event is older than
``live_lag_ms`` when it arrives (its event time far behind the wall clock: replayed history) is
*backfill*; every other mark is *live*. ``due`` lists live users first, each lane oldest
first. The lane is decided at read time from two stored clocks, so changing the threshold needs
no migration.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from streams.store.database import Database, now_ms

__all__ = ["DEFAULT_LIVE_LAG_MS", "Lane", "LaneStats", "PendingRecommendation", "Pending"]

Lane = Literal["live", "backfill"]
LANES: tuple[Lane, ...] = ("live", "backfill")
DEFAULT_LIVE_LAG_MS = 300_000  # an event more than 5 minutes old on arrival is history

# The lane of a row, given the threshold as the first parameter.
_LANE_SQL = "CASE WHEN updated_at - coalesce(trigger_ts, updated_at) > ? THEN 'backfill' ELSE 'live' END"


@dataclass(frozen=True)
class PendingRecommendation:
    user_id: str
    trigger_event_id: str
    updated_at: int
    lane: Lane = "live"


@dataclass(frozen=True)
class LaneStats:
    """What a dashboard needs of one lane: its length and how long its oldest user has waited."""

    users: int
    oldest_wait_ms: int


class Pending:
    """Reads and clears of ``rec_pending`` (its writes sit with the transactions that cause them)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def due(
        self, limit: int, live_lag_ms: int = DEFAULT_LIVE_LAG_MS, skip: Collection[str] = ()
    ) -> list[PendingRecommendation]:
        """Up to ``limit`` users to answer: the live lane first, then backfill, oldest first in each.

        ``skip`` are users already being answered; they are left out without costing a slot.
        """
        rows = self._db.con.execute(
            f"SELECT user_id, trigger_event_id, updated_at, {_LANE_SQL} AS lane FROM rec_pending "
            "WHERE NOT list_contains(?, user_id) "
            "ORDER BY lane = 'backfill', updated_at, user_id LIMIT ?",
            [live_lag_ms, list(skip), limit],
        ).fetchall()
        return [
            PendingRecommendation(str(u), str(t), int(a), "backfill" if ln == "backfill" else "live")
            for u, t, a, ln in rows
        ]

    def lane(
        self, lane: Lane, limit: int, live_lag_ms: int = DEFAULT_LIVE_LAG_MS, skip: Collection[str] = ()
    ) -> list[PendingRecommendation]:
        """Up to ``limit`` users of one lane, oldest first (the backfill share reads this)."""
        rows = self._db.con.execute(
            "SELECT user_id, trigger_event_id, updated_at FROM rec_pending "
            f"WHERE {_LANE_SQL} = ? AND NOT list_contains(?, user_id) "
            "ORDER BY updated_at, user_id LIMIT ?",
            [live_lag_ms, lane, list(skip), limit],
        ).fetchall()
        return [PendingRecommendation(str(u), str(t), int(a), lane) for u, t, a in rows]

    def stats(self, live_lag_ms: int = DEFAULT_LIVE_LAG_MS) -> dict[Lane, LaneStats]:
        """Length and oldest wait of each lane (both lanes always present)."""
        now = now_ms()
        rows = self._db.con.execute(
            f"SELECT {_LANE_SQL} AS lane, count(*), min(updated_at) FROM rec_pending GROUP BY lane",
            [live_lag_ms],
        ).fetchall()
        found = {str(lane): (int(n), int(oldest)) for lane, n, oldest in rows}
        return {
            lane: LaneStats(found[lane][0], max(0, now - found[lane][1]))
            if lane in found
            else LaneStats(0, 0)
            for lane in LANES
        }

    def clear(self, user_id: str, trigger_event_id: str) -> bool:
        """Remove a pending mark only if no newer click replaced it meanwhile (latest wins)."""
        row = self._db.con.execute(
            "DELETE FROM rec_pending WHERE user_id = ? AND trigger_event_id = ? RETURNING user_id",
            [user_id, trigger_event_id],
        ).fetchone()
        return row is not None

    def defer(self, user_id: str) -> None:
        """Move a user to the back of their lane (after a failed answer)."""
        self._db.con.execute("UPDATE rec_pending SET updated_at = ? WHERE user_id = ?", [now_ms(), user_id])

    def count(self) -> int:
        return self._db.count("SELECT count(*) FROM rec_pending")
