"""The ingest benchmark's profile parsing and report, on a synthetic py-spy raw file."""

from __future__ import annotations

from pathlib import Path

from streams.bench.ingest_ceiling import Reader, _markdown
from streams.bench.ingest_profile import profile_groups

MAIN = "thread (1): MainThread;run (faust/worker.py:10)"
RAW = "\n".join(
    [
        f"{MAIN};handle_click_batch (streams/agents/clicks.py:40);"
        "split_batch (streams/delivery/batching.py:70);decode (json/decoder.py:337) 30",
        f"{MAIN};select (selectors.py:468) 50",
        "thread (2): duckdb_0;_worker (concurrent/futures/thread.py:81);"
        "clicks (streams/store/ingest.py:150);execute (duckdb/__init__.py:1) 20",
    ]
)


def test_profile_shares_by_thread_stage_group_and_function(tmp_path: Path) -> None:
    path = tmp_path / "profile.txt"
    path.write_text(RAW)
    profile = profile_groups(path)
    assert profile["samples"] == 100
    assert profile["threads"] == {"MainThread": 0.8, "duckdb_0": 0.2}
    assert profile["stages"]["the clicks agent's batch (all of it)"] == 0.3
    assert profile["stages"]["validation (JSON + pydantic)"] == 0.3
    assert profile["stages"]["the DuckDB transaction (store thread)"] == 0.2
    assert profile["groups"]["JSON + validation (pydantic)"] == 0.3
    assert profile["groups"]["DuckDB + Arrow"] == 0.2
    assert profile["groups"]["asyncio + selectors"] == 0.5
    assert profile["top"][0] == {"function": "select (selectors.py:468)", "share": 0.5}


def test_report_states_the_ratio_against_the_goal(tmp_path: Path) -> None:
    readers = [
        Reader("raw aiokafka", 1000, 0.01, 0.1),
        Reader("bare Faust", 1000, 0.2, 7.0),
        Reader("streamrec worker", 1000, 0.4, 8.0),
    ]
    text = _markdown(readers, 1000, None, [0.4, 0.5, 0.9])
    assert (
        "Worker / bare Faust **0.50x**, the median of the rounds' ratios "
        "(0.40, 0.50, 0.90; misses the 0.75x goal)" in text
    )
    assert "| bare Faust | 5,000 | 0.20 | 7.0 |" in text


def test_the_median_reader_is_the_middle_run() -> None:
    from streams.bench.ingest_ceiling import _median

    runs = [Reader("w", 1000, s, 7.0) for s in (0.1, 0.4, 0.2)]
    assert _median(runs).seconds == 0.2
    assert _median(runs[:2]).seconds == 0.4, "an even count takes the lower (slower) middle run"
