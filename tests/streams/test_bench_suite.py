"""The speed suite's summary table, from synthetic benchmark reports."""

from __future__ import annotations

import json
from pathlib import Path

from streams.bench.suite import main, rows


def test_rows_from_each_report_and_missing_ones(tmp_path: Path) -> None:
    (tmp_path / "adapters.json").write_text(
        json.dumps(
            {"date": "2026-12-03", "shards": 4, "candidates": 20, "context_tokens": 307,
             "base_ms": 1694.0, "adapters_ms": 1779.0, "ratio": 1.05, "goal": 1.3}
        )
    )  # fmt: skip
    (tmp_path / "gpu_check.json").write_text(
        json.dumps(
            {"device": "cpu", "scoring": {"4": {"users_per_second": 0.41}, "1": {"users_per_second": 0.47}}}
        )
    )
    table = "\n".join(rows(tmp_path))
    assert "| 1,694 ms base model | 1,779 ms | 1.05x cost | <= 1.3x | 2026-12-03 |" in table
    assert (
        "| 4 users per Triton call (cpu) | 0.47 users/s at 1 per call | 0.41 users/s | 0.87x throughput"
        in table
    )
    assert "not measured (`python -m models.bench.training" in table
    assert "not measured (`python -m streams.bench.unlearning" in table


def test_main_writes_suite_md(tmp_path: Path) -> None:
    assert main(["--reports", str(tmp_path)]) == 0
    text = (tmp_path / "suite.md").read_text()
    assert text.startswith("# Scoring, batching, training and unlearning")
    assert text.count("not measured") == 4
