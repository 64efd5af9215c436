"""Read-only introspection of the store: row counts and "is this value anywhere?".

Used by ``/status``, by deletion audits ("the user id appears in no column of any table") and by
tests. It scans the catalog rather than a fixed list of tables, so a table added later is
audited without anyone remembering to add it here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from streams.store.database import Database

__all__ = ["Audit"]


class Audit:
    def __init__(self, db: Database) -> None:
        self._db = db

    def table_counts(self) -> dict[str, int]:
        tables = [
            str(r[0])
            for r in self._db.con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE NOT temporary ORDER BY table_name"
            ).fetchall()
        ]
        return {t: self._db.count(f'SELECT count(*) FROM "{t}"') for t in tables}

    def rows_mentioning(self, value: str) -> dict[str, int]:
        """Rows in any table with ``value`` in any text or text-list column (deletion audits)."""
        found: dict[str, int] = {}
        columns = self._db.con.execute(
            """
            SELECT table_name, column_name, data_type FROM duckdb_columns()
            WHERE NOT internal AND data_type IN ('VARCHAR', 'VARCHAR[]')
            """
        ).fetchall()
        for table, column, data_type in columns:
            predicate = f'list_contains("{column}", ?)' if data_type == "VARCHAR[]" else f'"{column}" = ?'
            hits = self._db.count(f'SELECT count(*) FROM "{table}" WHERE {predicate}', [value])
            if hits:
                found[f"{table}.{column}"] = found.get(f"{table}.{column}", 0) + hits
        return found

    def interaction_count(self, user_id: str | None = None) -> int:
        if user_id is None:
            return self._db.count("SELECT count(*) FROM interactions")
        return self._db.count("SELECT count(*) FROM interactions WHERE user_id = ?", [user_id])

    def watermark(self) -> int:
        """The newest interaction's ``seq`` (0 for an empty store): how far ingestion has come."""
        return self._db.count("SELECT coalesce(max(seq), 0) FROM interactions")

    def distinct_event_ids(self) -> int:
        return self._db.count("SELECT count(DISTINCT event_id) FROM interactions")

    def query(self, sql: str, params: Iterable[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a read query (for status and tests)."""
        return self._db.con.execute(sql, list(params or [])).fetchall()
