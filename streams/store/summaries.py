"""Recurrent preference-summary chains (LLM-TRSR): every statement that reads or extends them.

A user's chain is a list of versions 1, 2, ... Version k covers every interaction of the user
with ``seq <= through_seq`` (``seq`` is the global ingestion order), and adds the interactions
after version k-1's ``through_seq``: normally exactly one block of B, several blocks when the
summarizer fell behind and folded them. Nothing is skipped and nothing is covered twice, by
construction: the work for the next version is always "the interactions after the latest
``through_seq``", and saving a version is an optimistic transaction that fails if the chain
moved on or those interactions changed (a deletion) while the LLM was generating.

Keeping the chain derivable from the tables alone is what makes restarts safe: there is no
in-memory cursor to lose.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from models.types import HistoryEntry, ItemText
from streams.store.database import Database, Rollback, now_ms

__all__ = ["SummaryRow", "SummaryWork", "Summaries"]

_COLUMNS = (
    "user_id, version, summary, first_seq, through_seq, through_event_id, interactions_covered, "
    "blocks, mode, model_name, model_version, created_at, latency_ms, prompt_sha256"
)


@dataclass(frozen=True)
class SummaryRow:
    user_id: str
    version: int
    summary: str
    first_seq: int
    through_seq: int
    through_event_id: str
    interactions_covered: int
    blocks: int
    mode: str
    model_name: str
    model_version: str
    created_at: int
    latency_ms: float
    prompt_sha256: str


@dataclass(frozen=True)
class SummaryWork:
    """The input of one summary update: the previous version and the interactions to add."""

    user_id: str
    previous: SummaryRow | None
    entries: tuple[HistoryEntry, ...]  # ingestion order
    seqs: tuple[int, ...]
    through_event_id: str
    blocks: int

    @property
    def first_seq(self) -> int:
        return self.seqs[0]

    @property
    def through_seq(self) -> int:
        return self.seqs[-1]

    @property
    def next_version(self) -> int:
        return 1 if self.previous is None else self.previous.version + 1


def _row(values: tuple[Any, ...]) -> SummaryRow:
    return SummaryRow(
        user_id=str(values[0]),
        version=int(values[1]),
        summary=str(values[2]),
        first_seq=int(values[3]),
        through_seq=int(values[4]),
        through_event_id=str(values[5]),
        interactions_covered=int(values[6]),
        blocks=int(values[7]),
        mode=str(values[8]),
        model_name=str(values[9]),
        model_version=str(values[10]),
        created_at=int(values[11]),
        latency_ms=float(values[12]),
        prompt_sha256=str(values[13]),
    )


class Summaries:
    """Summary-chain reads and writes."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def users_with_pending_blocks(
        self, block_size: int, limit: int, exclude: Collection[str] = ()
    ) -> list[tuple[str, int]]:
        """(user, pending interactions) for users with at least one complete block, oldest first."""
        rows = self._db.con.execute(
            """
            WITH last AS (SELECT user_id, max(through_seq) AS t FROM summaries GROUP BY user_id)
            SELECT i.user_id, count(*) AS pending, min(i.seq) AS oldest
            FROM interactions i LEFT JOIN last l ON l.user_id = i.user_id
            WHERE i.seq > coalesce(l.t, 0)
            GROUP BY i.user_id HAVING count(*) >= ?
            ORDER BY oldest LIMIT ?
            """,
            [block_size, limit + len(exclude)],
        ).fetchall()
        return [(str(u), int(n)) for u, n, _ in rows if str(u) not in exclude][:limit]

    def backlog_blocks(self, block_size: int) -> int:
        """Complete blocks waiting to be summarized, over all users (the backlog)."""
        row = self._db.con.execute(
            """
            WITH last AS (SELECT user_id, max(through_seq) AS t FROM summaries GROUP BY user_id),
            pending AS (
                SELECT i.user_id, count(*) AS n FROM interactions i
                LEFT JOIN last l ON l.user_id = i.user_id
                WHERE i.seq > coalesce(l.t, 0) GROUP BY i.user_id)
            SELECT coalesce(sum(n // ?), 0) FROM pending
            """,
            [block_size],
        ).fetchone()
        return int(row[0]) if row else 0

    def latest(self, user_id: str) -> SummaryRow | None:
        row = self._db.con.execute(
            f"SELECT {_COLUMNS} FROM summaries WHERE user_id = ? ORDER BY version DESC LIMIT 1", [user_id]
        ).fetchone()
        return _row(row) if row else None

    def chain(self, user_id: str) -> list[SummaryRow]:
        rows = self._db.con.execute(
            f"SELECT {_COLUMNS} FROM summaries WHERE user_id = ? ORDER BY version", [user_id]
        ).fetchall()
        return [_row(r) for r in rows]

    def work(self, user_id: str, block_size: int, max_blocks: int) -> SummaryWork | None:
        """The next update: up to ``max_blocks`` complete blocks after the latest version."""
        previous = self.latest(user_id)
        rows = self._db.con.execute(
            """
            SELECT i.seq, i.event_id, i.item_id, it.title, it.categories, it.description,
                   i.event_type, i.rating, i.ts
            FROM interactions i LEFT JOIN items it ON it.item_id = i.item_id
            WHERE i.user_id = ? AND i.seq > ?
            ORDER BY i.seq
            LIMIT ?
            """,
            [user_id, previous.through_seq if previous else 0, block_size * max_blocks],
        ).fetchall()
        blocks = len(rows) // block_size
        if blocks == 0:
            return None
        rows = rows[: blocks * block_size]
        entries = tuple(
            HistoryEntry(
                item=ItemText(
                    item_id=str(item_id),
                    # Uncatalogued items are still part of the chain: interactions are never skipped.
                    title=str(title) if title is not None else f"item {item_id}",
                    categories=tuple(categories or ()),
                    description=description,
                ),
                event_type=str(event_type),
                rating=rating,
                ts=int(ts),
            )
            for _seq, _event, item_id, title, categories, description, event_type, rating, ts in rows
        )
        return SummaryWork(
            user_id=user_id,
            previous=previous,
            entries=entries,
            seqs=tuple(int(r[0]) for r in rows),
            through_event_id=str(rows[-1][1]),
            blocks=blocks,
        )

    def save(
        self,
        work: SummaryWork,
        text: str,
        *,
        mode: str,
        model_name: str,
        model_version: str,
        latency_ms: float,
        prompt: str,
    ) -> SummaryRow | None:
        """Append the next version if the chain and its input are unchanged; else None.

        Also marks the user for a fresh recommendation, so the ranking uses the new summary.
        """
        previous = work.previous
        saved = False
        with self._db.transaction() as con:
            latest = con.execute(
                "SELECT max(version), max(through_seq) FROM summaries WHERE user_id = ?", [work.user_id]
            ).fetchone()
            latest_version = int(latest[0]) if latest and latest[0] is not None else 0
            latest_through = int(latest[1]) if latest and latest[1] is not None else 0
            expected = (previous.version, previous.through_seq) if previous else (0, 0)
            current = con.execute(
                "SELECT list(seq ORDER BY seq) FROM interactions WHERE user_id = ? AND seq > ? AND seq <= ?",
                [work.user_id, expected[1], work.through_seq],
            ).fetchone()
            current_seqs = tuple(current[0] or ()) if current else ()
            if (latest_version, latest_through) != expected or current_seqs != work.seqs:
                raise Rollback  # the chain moved on, or a deletion changed its input
            now = now_ms()
            covered = (previous.interactions_covered if previous else 0) + len(work.seqs)
            con.execute(
                f"INSERT INTO summaries ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    work.user_id,
                    work.next_version,
                    text,
                    work.first_seq,
                    work.through_seq,
                    work.through_event_id,
                    covered,
                    work.blocks,
                    mode,
                    model_name,
                    model_version,
                    now,
                    latency_ms,
                    hashlib.sha256(prompt.encode()).hexdigest(),
                ],
            )
            con.execute(
                """
                INSERT OR REPLACE INTO rec_pending (user_id, trigger_event_id, updated_at, trigger_ts)
                SELECT user_id, arg_max(event_id, seq), ?, arg_max(ts, seq)
                FROM interactions WHERE user_id = ? GROUP BY user_id
                """,
                [now, work.user_id],
            )
            saved = True
        return self.latest(work.user_id) if saved else None
