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

__all__ = ["drop_forgotten", "write_tombstones"]


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


def drop_forgotten(con: duckdb.DuckDBPyConnection, batch: str, kept: str) -> None:
    """Create temp table ``kept`` with the rows of ``batch`` that no tombstone covers.

    ``batch`` must have ``user_key``, ``item_id`` and ``ts`` columns. Run it inside the
    transaction that inserts ``kept``.
    """
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {kept} AS
        SELECT b.* FROM {batch} b
        WHERE NOT EXISTS (
            SELECT 1 FROM tombstones t
            WHERE t.user_key = b.user_key
              AND (t.item_id IS NULL OR t.item_id = b.item_id)
              AND b.ts <= t.deleted_through)
        """
    )
