"""``streamrec eval`` parses its options into the library run and reports failures cleanly."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from streams.cli import app
from tests.models.evaluation.ml_fixture import write_movielens

runner = CliRunner()


def test_eval_writes_the_report(tmp_path: Path) -> None:
    data = write_movielens(tmp_path / "ml")
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "eval",
            "--data",
            str(data),
            "--users",
            "4",
            "--seed",
            "5",
            "--models",
            "random,popularity",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # rich wraps at the test terminal's width
    assert "popularity" in text and "report.json" in text
    report = json.loads((out / "report.json").read_text())
    assert report["config"]["seed"] == 5 and report["config"]["users"] == 4
    assert list(report["models"]) == ["random", "popularity"]
    assert report["targets"]["test"] == 4


def test_eval_rejects_bad_options(tmp_path: Path) -> None:
    result = runner.invoke(app, ["eval", "--out", str(tmp_path), "--models", "random,bert4rec"])
    assert result.exit_code == 2 and "models" in result.output
    result = runner.invoke(app, ["eval", "--out", str(tmp_path), "--dataset", "netflix"])
    assert result.exit_code == 2


def test_eval_reports_a_missing_dataset(tmp_path: Path) -> None:
    result = runner.invoke(app, ["eval", "--out", str(tmp_path / "o"), "--data", str(tmp_path / "nowhere")])
    assert result.exit_code == 1 and "does not look like ml-latest-small" in " ".join(result.output.split())
