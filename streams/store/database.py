"""The one DuckDB connection of a worker, and the one place that opens transactions.

DuckDB allows a single writing process per file, and every guarantee of the runtime
(idempotent ingestion, exact deletion, no resurrection by replay, consistent summary chains) is
a property of *transactions*. So all store modules share one :class:`Database`: they never open
a connection of their own and never write ``BEGIN``/``COMMIT`` themselves, they use
:meth:`Database.transaction`, which commits on success and rolls back on any exception.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from streams.store.schema import migrate, read_meta

__all__ = ["Database", "Rollback", "now_ms"]


def now_ms() -> int:
    """Wall-clock epoch milliseconds, the unit of every ``*_at`` column."""
    return int(time.time() * 1000)


class Rollback(Exception):
    """Raise inside :meth:`Database.transaction` to undo it quietly (an optimistic check failed)."""


class Database:
    """Owns the connection; not thread-safe (the worker uses it from one thread, see ``AsyncStore``)."""

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = str(path)
        if self.path != ":memory:" and not read_only:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect(self.path, read_only=read_only)
        if not read_only:
            migrate(self.con, self.path)
        self._salt = read_meta(self.con, "user_key_salt", self.path)

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """``with db.transaction() as con:`` runs the block atomically.

        Any exception rolls back and propagates, except :class:`Rollback`, which rolls back and
        is swallowed, so a caller can abandon a write whose precondition no longer holds.
        """
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            yield con
        except Rollback:
            con.execute("ROLLBACK")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        else:
            con.execute("COMMIT")

    def atomic_script(self, statements: str, answer: str) -> tuple[Any, ...]:
        """Run ``statements`` (a SQL script) as one transaction, then the query ``answer``, in
        a single call; returns ``answer``'s first row.

        Why a single call: the worker calls DuckDB from its store thread while the event loop
        holds the GIL nearly all the time, and every call waits for the GIL a few times (each
        wait up to the 5 ms switch interval), however little SQL it carries. A click batch as
        eight calls took ~10x its own time next to a busy event loop
        (``python -m streams.bench.gil_contention``).

        ``answer`` runs after the commit, so it should only read what the script left, such
        as session variables (``SET VARIABLE``). If a statement or the commit fails, nothing
        of the script stays and the error propagates, as with :meth:`transaction`.
        """
        con = self.con
        try:
            # fetchall, not fetchone: DuckDB refuses some work (``register``) on a connection
            # whose last result was not read to the end.
            rows = con.execute(f"BEGIN TRANSACTION;\n{statements}\nCOMMIT;\n{answer}").fetchall()
        except BaseException:
            # Nothing is open if the commit itself failed (DuckDB rolled back) or the answer did.
            with contextlib.suppress(duckdb.TransactionException):
                con.execute("ROLLBACK")
            raise
        if not rows:
            raise RuntimeError(f"the answer of an atomic script returned no row: {answer}")
        return tuple(rows[0])

    def count(self, sql: str, params: Sequence[Any] | None = None) -> int:
        """The first column of the first row as an int (``count(*)``, ``DELETE ... RETURNING``)."""
        row = self.con.execute(sql, list(params or [])).fetchone()
        return int(row[0]) if row else 0

    def user_key(self, user_id: str) -> str:
        """Salted hash of a user id: lets tombstones match a user without keeping the id."""
        return hashlib.sha256(f"{self._salt}:{user_id}".encode()).hexdigest()

    def close(self) -> None:
        self.con.close()
