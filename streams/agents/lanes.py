"""Which lane of pending users the next scoring call serves, and when the backfill lane waits.

Two rules, both pure (the recommend task feeds them clocks and queue lengths):

* :class:`LanePicker`: live users first, with a guaranteed share for the backfill lane, so a
  sustained live load slows a backfill down but never stops it.
* :class:`BackfillHold`: while replayed history is still arriving, the backfill lane waits.
  Ranking a user in the middle of their own replay is wasted work: latest wins, so every later
  batch of their history marks them pending again and the ranking is redone. Waiting until the
  replay has been quiet for ``quiet_s`` ranks each replayed user once, with their whole
  history, and leaves the CPU and the store thread to ingestion meanwhile. A replay that never
  goes quiet (a slow, endless trickle of old events) still gets one backfill call at least every
  ``max_hold_s``. Live users are never held.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from streams.store import Lane

__all__ = ["BackfillHold", "LanePicker"]


@dataclass
class LanePicker:
    """Which lane the next call serves: live first, with a guaranteed share for the backfill.

    When both lanes wait, every ``backfill_every``-th call serves the backfill lane.
    """

    backfill_every: int
    live_streak: int = 0

    def choose(self, live_waiting: bool, backfill_waiting: bool) -> Lane | None:
        if live_waiting and backfill_waiting and self.live_streak >= self.backfill_every - 1:
            self.live_streak = 0
            return "backfill"
        if live_waiting:
            self.live_streak += 1 if backfill_waiting else 0
            return "live"
        if backfill_waiting:
            self.live_streak = 0
            return "backfill"
        return None


@dataclass
class BackfillHold:
    """Holds the backfill lane while replayed history arrives (see the module doc).

    Times are ``time.monotonic()`` seconds. ``quiet_s == 0`` turns the hold off.
    """

    quiet_s: float
    max_hold_s: float
    last_history_at: float = -math.inf  # the last ingest batch that held replayed clicks
    last_served_at: float | None = None  # the last backfill call (None: not since the hold began)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.quiet_s) and self.quiet_s >= 0):
            raise ValueError(f"quiet_s must be a finite number >= 0, got {self.quiet_s}")
        if not (math.isfinite(self.max_hold_s) and self.max_hold_s > 0):
            raise ValueError(f"max_hold_s must be a finite number > 0, got {self.max_hold_s}")

    def history_arrived(self, now: float) -> None:
        """An ingest batch stored clicks whose event time lies beyond the live lag."""
        if not self.holding(now):
            self.last_served_at = now  # the hold (re)starts now: max_hold_s counts from here
        self.last_history_at = now

    def holding(self, now: float) -> bool:
        """True while history arrived within ``quiet_s``."""
        return self.quiet_s > 0 and now - self.last_history_at < self.quiet_s

    def admits_backfill(self, now: float) -> bool:
        """May the next call serve the backfill lane?"""
        if not self.holding(now):
            return True
        return self.last_served_at is not None and now - self.last_served_at >= self.max_hold_s

    def served_backfill(self, now: float) -> None:
        self.last_served_at = now
