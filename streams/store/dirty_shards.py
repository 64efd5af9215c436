"""Dirty shards: which served adapters learned from data that has since been deleted.

A deletion purges the user's rows, but the adapter of every shard whose samples derived from
them still holds what it learned. From the moment ``purged`` is published, such a shard must
not score any request, until a retrain from data taken *after* the purge replaces it. A mark
records that, durably:

* **Written with the purge.** :meth:`DirtyShards.mark` runs inside the purge's transaction, so
  a purge is never committed without its marks (a crash resumes both, see ``deletions``).
* **Set-independent.** A mark names a shard number and is *active* until a set version whose
  retrain of that shard covers the mark is published (``cleared_by``). Switching to another
  set before that does not clear it: the exclusion holds across versions.
* **Ordered.** Marks are numbered; a retrain records the highest mark id when its snapshot was
  exported and may only clear marks up to it. A deletion that arrives while a shard retrains
  keeps its mark, and the shard is retrained again.

The table holds shard numbers and request ids only: no user id, not even the salted key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from streams.store.database import Database, now_ms
from streams.store.deletion_trail import append_trail

__all__ = ["DirtyMark", "DirtyShards", "mark_dirty"]


@dataclass(frozen=True)
class DirtyMark:
    mark_id: int
    shard: int
    adapter_set: str
    request_id: str
    marked_at: int


def mark_dirty(
    con: duckdb.DuckDBPyConnection, shards: Iterable[int], adapter_set: str, request_id: str
) -> list[int]:
    """Insert one mark per shard inside the caller's transaction; returns the new mark ids.

    Idempotent per (request, shard, set): a purge that is resumed after a crash marks nothing twice.
    """
    created = []
    for shard in sorted(set(shards)):
        exists = con.execute(
            "SELECT 1 FROM dirty_shards WHERE request_id = ? AND shard = ? AND adapter_set = ?",
            [request_id, shard, adapter_set],
        ).fetchall()
        if exists:
            continue
        next_id = int(con.execute("SELECT coalesce(max(mark_id), 0) + 1 FROM dirty_shards").fetchall()[0][0])
        con.execute(
            "INSERT INTO dirty_shards (mark_id, shard, adapter_set, request_id, marked_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [next_id, shard, adapter_set, request_id, now_ms()],
        )
        created.append(next_id)
    return created


class DirtyShards:
    def __init__(self, db: Database) -> None:
        self._db = db

    def active(self) -> list[DirtyMark]:
        """Marks no published retrain has covered yet, oldest first."""
        rows = self._db.con.execute(
            "SELECT mark_id, shard, adapter_set, request_id, marked_at FROM dirty_shards "
            "WHERE cleared_by IS NULL ORDER BY mark_id"
        ).fetchall()
        return [DirtyMark(int(m), int(s), str(a), str(r), int(t)) for m, s, a, r, t in rows]

    def excluded(self) -> frozenset[int]:
        """The shard numbers no request may be scored with right now."""
        return frozenset(mark.shard for mark in self.active())

    def high_water(self) -> int:
        """The newest mark id (0 if none): a snapshot records it, its retrain clears up to it."""
        return int(
            self._db.con.execute("SELECT coalesce(max(mark_id), 0) FROM dirty_shards").fetchall()[0][0]
        )

    def mark(self, shards: Sequence[int], adapter_set: str, request_id: str) -> list[int]:
        """Mark outside a purge (a set published from a snapshot older than a purge)."""
        with self._db.transaction() as con:
            return mark_dirty(con, shards, adapter_set, request_id)

    def clear(self, shards: Iterable[int], through_mark: int, adapter_set: str) -> int:
        """``adapter_set`` retrained ``shards`` from data taken when marks reached ``through_mark``.

        Clears the active marks of those shards up to that id; returns how many. Newer marks stay.
        """
        wanted = sorted(set(shards))
        if not wanted:
            return 0
        with self._db.transaction():
            return self._db.count(  # an UPDATE answers with the number of rows it changed
                "UPDATE dirty_shards SET cleared_by = ?, cleared_at = ? "
                "WHERE cleared_by IS NULL AND mark_id <= ? AND list_contains(?, shard)",
                [adapter_set, now_ms(), through_mark, wanted],
            )

    def retrained(self, version: str, through_mark: int, detail: dict[str, Any]) -> list[str]:
        """``version`` was trained from data exported when marks reached ``through_mark``.

        Such a set holds none of the data of any deletion up to that mark, whatever its shard
        (its shards were rebuilt from the retained data, or provably equal to a rebuild), so
        every active mark up to it is cleared, and each request that has no active mark left
        gets its ``retrained`` trail entry, in the same transaction. Returns those requests.
        Idempotent: calling again (a retried notification) clears and appends nothing, and
        returns the same requests, so their ``retrained`` status can be published again.
        """
        with self._db.transaction() as con:
            con.execute(
                "UPDATE dirty_shards SET cleared_by = ?, cleared_at = ? "
                "WHERE cleared_by IS NULL AND mark_id <= ?",
                [version, now_ms(), through_mark],
            )
            done = [
                str(r[0])
                for r in con.execute(
                    """
                    SELECT request_id FROM dirty_shards GROUP BY request_id
                    HAVING bool_or(cleared_by = ?) AND bool_and(cleared_by IS NOT NULL)
                    ORDER BY min(mark_id)
                    """,
                    [version],
                ).fetchall()
            ]
            for request_id in done:
                logged = con.execute(
                    "SELECT 1 FROM deletion_audit WHERE request_id = ? AND stage = 'retrained'",
                    [request_id],
                ).fetchall()
                if not logged:
                    append_trail(con, request_id, "retrained", detail)
        return done

    def cleared_by(self, version: str) -> list[str]:
        """The requests whose last active mark ``version`` cleared (for the ``served`` step)."""
        rows = self._db.con.execute(
            "SELECT request_id FROM dirty_shards GROUP BY request_id "
            "HAVING bool_or(cleared_by = ?) AND bool_and(cleared_by IS NOT NULL) ORDER BY min(mark_id)",
            [version],
        ).fetchall()
        return [str(r[0]) for r in rows]
