"""The audit trail of every deletion request: what happened to it, when, and with which result.

"Forget me" is a promise that takes several steps over minutes (purge, dirty shards, retrain,
serving the clean set), done by different processes. A requester, or a regulator, asks: did all
of it happen, and when? Each step appends one row here, in the same transaction as the step
itself where the step writes DuckDB, so the trail never claims a step that did not commit:

=============  ===========================================================================
``received``   the request entered the ledger
``purged``     rows deleted per table, the tombstone's reach
``dirtied``    the adapter set and shards marked dirty (no row if no shard held the user)
``retrained``  the new set version, each retrained shard's old -> new sha256, the durations
``served``     the first recommendation scored by a set that no longer holds the data
=============  ===========================================================================

Rows name the request only: no user id, not even the salted key (the ledger keeps that one).
``streamrec audit REQUEST_ID`` prints a request's trail.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import duckdb

from streams.store.database import Database, now_ms

__all__ = ["TrailEntry", "DeletionTrail", "append_trail"]

STAGES = ("received", "purged", "dirtied", "retrained", "served", "failed")


@dataclass(frozen=True)
class TrailEntry:
    stage: str
    at: int  # epoch ms
    detail: dict[str, Any]


def append_trail(con: duckdb.DuckDBPyConnection, request_id: str, stage: str, detail: dict[str, Any]) -> None:
    """Append one entry inside the caller's transaction."""
    if stage not in STAGES:
        raise ValueError(f"unknown trail stage {stage!r}; one of {STAGES}")
    con.execute(
        "INSERT INTO deletion_audit (entry_id, request_id, stage, logged_at, detail) "
        "SELECT coalesce(max(entry_id), 0) + 1, ?, ?, ?, ? FROM deletion_audit",
        [request_id, stage, now_ms(), json.dumps(detail, sort_keys=True)],
    )


class DeletionTrail:
    def __init__(self, db: Database) -> None:
        self._db = db

    def append(self, request_id: str, stage: str, detail: dict[str, Any]) -> None:
        with self._db.transaction() as con:
            append_trail(con, request_id, stage, detail)

    def log_served(self, version: str) -> int:
        """``version`` just answered a recommendation: the ``served`` step of every request whose
        last mark it cleared and that has none yet. Returns how many were appended.

        Called per answer (a cheap read when there is nothing to add), because the retrain's
        notification may reach the worker after the new set's first answers.
        """
        waiting = [
            str(r[0])
            for r in self._db.con.execute(
                """
                SELECT request_id FROM dirty_shards
                WHERE request_id NOT IN (SELECT request_id FROM deletion_audit WHERE stage = 'served')
                GROUP BY request_id
                HAVING bool_or(cleared_by = ?) AND bool_and(cleared_by IS NOT NULL)
                ORDER BY min(mark_id)
                """,
                [version],
            ).fetchall()
        ]
        if waiting:
            with self._db.transaction() as con:
                for request_id in waiting:
                    append_trail(con, request_id, "served", {"version": version})
        return len(waiting)

    def entries(self, request_id: str) -> list[TrailEntry]:
        rows = self._db.con.execute(
            "SELECT stage, logged_at, detail FROM deletion_audit WHERE request_id = ? ORDER BY entry_id",
            [request_id],
        ).fetchall()
        return [TrailEntry(str(s), int(a), json.loads(d)) for s, a, d in rows]

    def has(self, request_id: str, stage: str) -> bool:
        return bool(
            self._db.count(
                "SELECT count(*) FROM deletion_audit WHERE request_id = ? AND stage = ?", [request_id, stage]
            )
        )

    def ledger(self, request_id: str) -> dict[str, Any] | None:
        """The ledger row of a request (salted key, stage, times), without any raw id."""
        row = self._db.con.execute(
            "SELECT request_id, user_key, item_ids, requested_at, received_at, stage, purged_at, "
            "rows_deleted FROM deletion_requests WHERE request_id = ?",
            [request_id],
        ).fetchone()
        if row is None:
            return None
        names = (
            "request_id",
            "user_key",
            "item_ids",
            "requested_at",
            "received_at",
            "stage",
            "purged_at",
            "rows_deleted",
        )
        ledger = dict(zip(names, row, strict=True))
        ledger["item_ids"] = None if ledger["item_ids"] is None else len(ledger["item_ids"])  # a count only
        return ledger
