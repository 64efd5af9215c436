"""Tombstones: why a replay of forgotten events can never bring them back.

A purge leaves a tombstone keyed by a salted hash of the user id (never the id itself), for the
whole user or for single items, reaching ``deleted_through`` in event time. Ingestion drops
every event at or before a matching tombstone *in the same transaction as the insert*, so there
is no window in which a replayed event is stored. Both halves of the guarantee, the write and
the check, are here.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

__all__ = ["forgotten", "write_tombstones"]


def write_tombstones(
    con: duckdb.DuckDBPyConnection,
    user_key: str,
    item_ids: Sequence[str] | None,
    deleted_through: int,
    request_id: str,
) -> None:
    """One tombstone for the whole user (``item_ids`` None) or one per forgotten item."""
    if item_ids is None:
        con.execute("INSERT INTO tombstones VALUES (?, NULL, ?, ?)", [user_key, deleted_through, request_id])
        return
    for item_id in item_ids:
        con.execute(
            "INSERT INTO tombstones VALUES (?, ?, ?, ?)", [user_key, item_id, deleted_through, request_id]
        )


def forgotten(row: str) -> str:
    """SQL condition, true for a row (alias ``row``) that a tombstone covers.

    The row needs ``user_key``, ``item_id`` and ``ts`` columns. Use it as ``NOT ...`` in the
    statement that inserts, inside the transaction that inserts: then there is no moment at
    which a replayed event of a forgotten user is stored, not even inside a transaction.
    """
    return f"""EXISTS (
            SELECT 1 FROM tombstones t
            WHERE t.user_key = {row}.user_key
              AND (t.item_id IS NULL OR t.item_id = {row}.item_id)
              AND {row}.ts <= t.deleted_through)"""
