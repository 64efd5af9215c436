"""``Database.atomic_script``: a whole write in one DuckDB call, still all or nothing."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from streams.store.database import Database


@pytest.fixture
def db() -> Database:
    database = Database(":memory:")
    database.con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, note VARCHAR)")
    return database


def rows(db: Database) -> list[tuple[int, str]]:
    return [(int(i), str(n)) for i, n in db.con.execute("SELECT id, note FROM t ORDER BY id").fetchall()]


def test_the_script_commits_and_the_answer_reads_what_it_left(db: Database) -> None:
    answer = db.atomic_script(
        """
        INSERT INTO t VALUES (1, 'a'), (2, 'b');
        SET VARIABLE written = (SELECT count(*) FROM t);
        """,
        answer="SELECT getvariable('written'), 'done'",
    )
    assert answer == (2, "done")
    assert rows(db) == [(1, "a"), (2, "b")]


def test_a_failing_statement_undoes_the_statements_before_it(db: Database) -> None:
    db.atomic_script("INSERT INTO t VALUES (1, 'kept');", answer="SELECT 1")
    with pytest.raises(duckdb.ConstraintException):
        db.atomic_script(
            "INSERT INTO t VALUES (2, 'undone'); INSERT INTO t VALUES (1, 'duplicate');", answer="SELECT 1"
        )
    assert rows(db) == [(1, "kept")]
    # No transaction was left open: the next script and a plain transaction both work.
    db.atomic_script("INSERT INTO t VALUES (3, 'next');", answer="SELECT 1")
    with db.transaction() as con:
        con.execute("INSERT INTO t VALUES (4, 'after')")
    assert [i for i, _ in rows(db)] == [1, 3, 4]


def test_a_failing_answer_raises_after_the_commit(db: Database) -> None:
    """The answer runs after the commit: the write stays, and the caller hears of the error."""
    with pytest.raises(duckdb.Error):
        db.atomic_script("INSERT INTO t VALUES (1, 'a');", answer="SELECT * FROM no_such_table")
    assert rows(db) == [(1, "a")]
    db.atomic_script("INSERT INTO t VALUES (2, 'b');", answer="SELECT 1")
    assert len(rows(db)) == 2


def test_the_connection_is_free_for_any_work_afterwards(db: Database) -> None:
    """The answer is read to the end: DuckDB refuses ``register`` while a result is half read."""
    db.atomic_script("INSERT INTO t VALUES (1, 'a');", answer="SELECT * FROM range(3)")
    db.con.register("extra", pa.table({"id": [2], "note": ["b"]}))
    try:
        db.con.execute("INSERT INTO t SELECT * FROM extra")
    finally:
        db.con.unregister("extra")
    assert rows(db) == [(1, "a"), (2, "b")]
