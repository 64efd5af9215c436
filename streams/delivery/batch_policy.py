"""When a micro-batch is handed out: full, quiet, or its window closed, and which window.

Two kinds of traffic want different batches:

* **Live clicks** should be stored, and ranked, soon: a batch holding one goes ``within_s``
  (0.2 s) after that record arrived at the latest, and as soon as the stream has been quiet for
  ``quiet_s`` (a user's clicks come in one fetch, then nothing).
* **A backlog** (a replay, a backfill, a worker catching up after a restart) is throughput
  work, and a click batch has a fixed cost in DuckDB (a dozen statements and the commit's
  flush), whatever its size. With the 0.2 s window, a replay's click batches averaged 2,600
  to 3,800 clicks; with 1 s they average 4,500, and the store spends about a quarter less
  time per click (``CHANGELOG.md`` has the figures). That is CPU the scoring model, on the
  same machine, gets back. So a batch of backlog records goes after ``backlog_within_s``.

A record is *backlog* if it had already waited ``backlog_age_s`` in Kafka when the worker
read it: its Kafka timestamp (the producer's clock, or the broker's with ``LogAppendTime``)
is that far behind the worker's clock. A consumer that keeps up reads records within a fetch
wait (0.1 s) of their production, so 2 s is far from both. If clocks disagree by more than
that, a live record may be taken for backlog; it then waits at most ``backlog_within_s``
under a continuous stream, and not at all once the stream goes quiet. A record without a
timestamp counts as live.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["BatchPolicy"]


@dataclass(frozen=True)
class BatchPolicy:
    """The rules of :func:`streams.delivery.micro_batches`; see the module doc for why."""

    max_events: int  # a full batch goes at once
    within_s: float  # a batch with a live record goes this long after it arrived, at most
    quiet_s: float | None = None  # ... or once nothing arrived for this long (None: no quiet rule)
    backlog_within_s: float | None = None  # a batch of backlog only (None: no backlog rule)
    backlog_age_s: float = 2.0  # a record this old when it arrives is backlog

    def __post_init__(self) -> None:
        if self.max_events <= 0:
            raise ValueError(f"max_events must be positive, got {self.max_events}")
        durations = {
            "within_s": self.within_s,
            "quiet_s": self.quiet_s,
            "backlog_within_s": self.backlog_within_s,
            "backlog_age_s": self.backlog_age_s,
        }
        for name, value in durations.items():
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds, got {value}")

    @property
    def watches_backlog(self) -> bool:
        """Whether records are told apart at all (without the backlog rule, all are live)."""
        return self.backlog_within_s is not None

    def is_backlog(self, produced_at: float | None, now: float) -> bool:
        """Whether records produced at ``produced_at`` (Unix seconds, the newest of a take)
        are backlog when they arrive at ``now``."""
        if not self.watches_backlog or produced_at is None:
            return False
        return now - produced_at >= self.backlog_age_s

    def deadline(self, first_at: float, live_at: float | None, last_at: float) -> float:
        """When a waiting batch goes at the latest, on one monotonic clock: its first record
        arrived at ``first_at``, its first live one at ``live_at`` (None: none is live) and
        its newest one at ``last_at``."""
        window = self.backlog_within_s if self.backlog_within_s is not None else self.within_s
        due = first_at + window
        if live_at is not None:
            due = min(due, live_at + self.within_s)
        if self.quiet_s is not None:
            due = min(due, last_at + self.quiet_s)
        return due
