"""The GIL-contention benchmark: both variants run the same statements and store every click."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streams.bench.gil_contention import main, statements
from streams.replay import DEFAULT_MOVIELENS
from streams.store.ingest import store_clicks_sql


def test_the_ingest_script_splits_into_its_statements() -> None:
    split = statements(store_clicks_sql(1, "clicks", {0: 5, 1: 7}))
    heads = [" ".join(s.split()[:2]) for s in (_code(s) for s in split)]
    assert heads == [
        "SET VARIABLE",
        "INSERT OR",  # interactions
        "INSERT OR",  # rec_pending
        "INSERT OR",  # consumer_offsets
        "SET VARIABLE",
        "SET VARIABLE",
        "DROP TABLE",
    ]


def _code(statement: str) -> str:
    return "\n".join(line for line in statement.splitlines() if not line.strip().startswith("--"))


@pytest.mark.skipif(not DEFAULT_MOVIELENS.is_dir(), reason="MovieLens is not under ../shared/data")
def test_a_small_run_writes_its_reports(tmp_path: Path) -> None:
    """Each variant must store all clicks (the benchmark raises otherwise) and be reported."""
    main(["--batches", "2", "--batch-size", "40", "--out", str(tmp_path)])
    report = json.loads((tmp_path / "gil_contention.json").read_text())
    assert set(report["results"]) == {"one call per statement", "one script"}
    for by_mode in report["results"].values():
        assert by_mode["idle"]["median_ms"] > 0 and by_mode["busy"]["median_ms"] > 0
        assert by_mode["busy"]["busy_loops_per_s"] > 0
    assert (tmp_path / "gil_contention.png").stat().st_size > 0
    assert "one script" in (tmp_path / "gil_contention.md").read_text()
