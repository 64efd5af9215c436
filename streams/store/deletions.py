"""Exact deletion: the ledger of "forget me" requests and the purge.

* **Ledger first.** A request is written durably before any purge, so a crash mid-way resumes
  the purge on restart (``unfinished``) and a redelivered request is only re-acknowledged.
* **One transaction.** The purge deletes the user's rows (or those items), every summary
  version derived from them, the pending mark, leaves the tombstones
  (``streams.store.tombstones``) and closes the ledger entry, all or nothing.
* **No raw id left.** The ledger keeps the raw user id only until the purge commits; after that
  only the salted key remains.

Physical note: DuckDB deletes are logical; the purge runs ``CHECKPOINT`` so the write-ahead log
no longer holds the rows, but freed blocks in the file may keep old bytes until reused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from streams.store.database import Database, now_ms
from streams.store.deletion_trail import append_trail
from streams.store.dirty_shards import mark_dirty
from streams.store.tombstones import write_tombstones

__all__ = ["DeletionRecord", "Deletions", "PurgeResult", "ShardsHolding"]


@dataclass(frozen=True)
class DeletionRecord:
    request_id: str
    stage: str
    rows_deleted: int | None


@dataclass(frozen=True)
class ShardsHolding:
    """The served adapter set's shards whose samples derived from the data being deleted."""

    adapter_set: str
    shards: tuple[int, ...]


@dataclass(frozen=True)
class PurgeResult:
    request_id: str
    rows_deleted: int
    deleted_through: int
    summaries_invalidated: int = 0
    shards_dirtied: tuple[int, ...] = ()


class Deletions:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record(
        self, request_id: str, user_id: str, item_ids: Sequence[str] | None, requested_at: int
    ) -> DeletionRecord:
        """Write the request to the ledger (durably, before any purge). Idempotent.

        A new request also starts its audit trail (``received``) in the same transaction.
        """
        with self._db.transaction() as con:
            known = con.execute(
                "SELECT 1 FROM deletion_requests WHERE request_id = ?", [request_id]
            ).fetchall()
            if not known:
                con.execute(
                    """
                    INSERT INTO deletion_requests
                        (request_id, user_key, user_id, item_ids, requested_at, received_at, stage)
                    VALUES (?, ?, ?, ?, ?, ?, 'received')
                    """,
                    [
                        request_id,
                        self._db.user_key(user_id),
                        user_id,
                        list(item_ids) if item_ids is not None else None,
                        requested_at,
                        now_ms(),
                    ],
                )
                scope = "user" if item_ids is None else f"{len(set(item_ids))} item(s)"
                append_trail(con, request_id, "received", {"scope": scope, "requested_at": requested_at})
        return self.get(request_id)

    def get(self, request_id: str) -> DeletionRecord:
        row = self._db.con.execute(
            "SELECT stage, rows_deleted FROM deletion_requests WHERE request_id = ?", [request_id]
        ).fetchone()
        if row is None:
            raise KeyError(f"no deletion request {request_id!r}")
        return DeletionRecord(request_id, str(row[0]), None if row[1] is None else int(row[1]))

    def unfinished(self) -> list[tuple[str, str, list[str] | None, int]]:
        """Requests recorded but not purged (a crash between ledger write and purge)."""
        rows = self._db.con.execute(
            "SELECT request_id, user_id, item_ids, requested_at FROM deletion_requests "
            "WHERE stage = 'received' ORDER BY received_at"
        ).fetchall()
        return [(str(r), str(u), None if i is None else list(i), int(t)) for r, u, i, t in rows]

    def purged(self) -> list[tuple[str, str]]:
        """(request id, salted user key) of every purged request, oldest first.

        A newly served adapter set is checked against these: a request purged after its
        training data was exported may still be in it.
        """
        rows = self._db.con.execute(
            "SELECT request_id, user_key FROM deletion_requests WHERE stage = 'purged' "
            "ORDER BY purged_at, request_id"
        ).fetchall()
        return [(str(r), str(k)) for r, k in rows]

    def purge(
        self,
        request_id: str,
        user_id: str,
        item_ids: Sequence[str] | None,
        requested_at: int,
        holding: ShardsHolding | None = None,
    ) -> PurgeResult:
        """Delete the user's rows (or those items), leave a tombstone, close the ledger entry.

        All in one transaction, followed by a checkpoint so the WAL no longer holds the rows.
        The tombstone reaches at least the newest deleted event, so even events stamped after
        ``requested_at`` that were deleted here cannot be replayed back in. ``holding`` names
        the adapter shards that learned from the user; they are marked dirty in the same
        transaction (``streams.store.dirty_shards``), so the purge never commits without them.
        """
        db = self._db
        key = db.user_key(user_id)
        items = list(item_ids) if item_ids is not None else None
        where = "user_id = ?" + (" AND list_contains(?, item_id)" if items is not None else "")
        params: list[Any] = [user_id] + ([items] if items is not None else [])
        with db.transaction() as con:
            bounds = con.execute(
                f"SELECT max(ts), min(seq) FROM interactions WHERE {where}", params
            ).fetchone()
            max_ts = int(bounds[0]) if bounds and bounds[0] is not None else 0
            first_deleted_seq = int(bounds[1]) if bounds and bounds[1] is not None else None
            deleted = db.count(f"DELETE FROM interactions WHERE {where}", params)  # returns the count
            # Every summary version from the first one covering a deleted interaction on derives
            # from deleted data (the chain is recurrent), so all of them go.
            if items is None:
                invalidated = db.count("DELETE FROM summaries WHERE user_id = ?", [user_id])
            elif first_deleted_seq is not None:
                invalidated = db.count(
                    "SELECT count(*) FROM summaries WHERE user_id = ? AND through_seq >= ?",
                    [user_id, first_deleted_seq],
                )
                if invalidated:
                    # The chain is rebuilt from scratch (block by block, one user per call), so
                    # the result equals summarizing the retained interactions anew; batched
                    # generation is not bit-identical across batch compositions.
                    con.execute("DELETE FROM summaries WHERE user_id = ?", [user_id])
            else:
                invalidated = 0
            through = max(requested_at, max_ts)
            write_tombstones(con, key, items, through, request_id)
            marks: list[int] = []
            if holding is not None and holding.shards:
                marks = mark_dirty(con, holding.shards, holding.adapter_set, request_id)
            pending = 0
            if items is None:
                pending = db.count("DELETE FROM rec_pending WHERE user_id = ?", [user_id])
            else:
                # The remaining history changed, so the user's ranking must be recomputed.
                con.execute(
                    """
                    INSERT OR REPLACE INTO rec_pending (user_id, trigger_event_id, updated_at, trigger_ts)
                    SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM interactions WHERE user_id = ?)
                    """,
                    # The user acted just now: their new ranking is live traffic.
                    [user_id, f"deletion:{request_id}", now_ms(), now_ms(), user_id],
                )
            con.execute(
                """
                UPDATE deletion_requests
                SET stage = 'purged', user_id = NULL, purged_at = ?, rows_deleted = ?
                WHERE request_id = ?
                """,
                [now_ms(), deleted, request_id],
            )
            rows = {"interactions": deleted, "summaries": invalidated, "rec_pending": pending}
            append_trail(con, request_id, "purged", {"rows": rows, "tombstone_through": through})
            if marks and holding is not None:
                detail = {"adapter_set": holding.adapter_set, "shards": sorted(set(holding.shards))}
                append_trail(con, request_id, "dirtied", {**detail, "mark_ids": marks})
        db.con.execute("CHECKPOINT")
        dirtied = holding.shards if holding is not None else ()
        return PurgeResult(request_id, deleted, through, invalidated, tuple(sorted(set(dirtied))))
