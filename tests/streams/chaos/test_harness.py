"""The chaos suite's own parts, without processes: verdicts, reports, configs and the served-set
oracle. An oracle that cannot fail proves nothing, so the checker is shown a broken set too."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from serving.adapters import CURRENT, AdapterSetFiles, write_adapter_set
from streams.chaos import harness, report, served_set, trainer_kills, triton_outage, worker_kills


def test_a_scenario_passes_only_if_it_ran_and_every_check_passed() -> None:
    result = harness.ScenarioResult(1, "x")
    assert result.status == "FAIL", "no check at all is not a pass"
    result.check("a", True, "")
    assert result.status == "PASS"
    result.check("b", False, "")
    assert result.status == "FAIL"
    errored = harness.ScenarioResult(2, "y", error="Traceback ...")
    errored.check("a", True, "")
    assert errored.status == "FAIL"
    skipped = harness.ScenarioResult(3, "z", skipped="no root")
    assert skipped.status == "SKIP"


def test_seeded_gaps_repeat_for_a_seed() -> None:
    first = harness.seeded_gaps(random.Random(7), 5, 2.0, 12.0)
    assert first == harness.seeded_gaps(random.Random(7), 5, 2.0, 12.0)
    assert len(first) == 5 and all(2.0 <= g <= 12.0 for g in first)


def test_reports_carry_every_check_and_the_kills_as_a_table(tmp_path: Path) -> None:
    passed = harness.ScenarioResult(1, "repeated worker kills", seconds=12.0)
    passed.check("stored equals expected", True, "5000 vs 5000")
    passed.figures["kills"] = [{"kill": 1, "at_s": 5.9}, {"kill": 2, "at_s": 30.7}]
    skipped = harness.ScenarioResult(4, "disk full", skipped="mounting a tmpfs needs root")
    json_path, md_path = report.write_reports(tmp_path, [passed, skipped], {"started": "now", "seconds": 1.0})
    body = json.loads(json_path.read_text())
    assert [s["status"] for s in body["scenarios"]] == ["PASS", "SKIP"]
    markdown = md_path.read_text()
    assert "| kill | at_s |" in markdown and "| 2 | 30.7 |" in markdown
    assert "Skipped: mounting a tmpfs needs root" in markdown
    assert report.console_lines(skipped)[1] == "  SKIP: mounting a tmpfs needs root"


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: worker_kills.WorkerKillsConfig(movielens=Path("."), clicks=0), "clicks"),
        (lambda: worker_kills.WorkerKillsConfig(movielens=Path("."), gap_low_s=5, gap_high_s=1), "gap_low_s"),
        (lambda: triton_outage.TritonOutageConfig(down_s=0), "down_s"),
        (lambda: trainer_kills.TrainerKillsConfig(users=3, shards=2), "users"),
    ],
)
def test_configs_name_the_bad_field(build: object, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        build()  # type: ignore[operator]


def published_set(root: Path, tmp_path: Path) -> str:
    shards = []
    for k in range(2):
        source = tmp_path / f"trained-{k}.safetensors"
        source.write_bytes(bytes([k]) * 64)
        shards.append(source)
    files = AdapterSetFiles(
        shard_sources=shards,
        validation={"keys": np.array(["a"])},
        item_ids=["i1"],
        item_vectors=np.zeros((1, 2), dtype=np.float32),
        centroids=None,
        extras={"members.parquet": tmp_path / "members.parquet"},
    )
    (tmp_path / "members.parquet").write_bytes(b"not read by the checker")
    return write_adapter_set(root, files, {"shards": [{"shard": 0}, {"shard": 1}]})


def test_the_served_set_checker_passes_a_whole_set_and_catches_a_broken_one(tmp_path: Path) -> None:
    root = tmp_path / "adapters"
    version = published_set(root, tmp_path)
    checker = served_set.ServedSetChecker(root, interval_s=0.1)
    checker.poll()
    assert checker.violations == [] and checker.versions == [version]

    (root / version / "shard-1.safetensors").write_bytes(b"flipped")
    checker.poll()
    assert checker.violations == [f"poll 2: {version}/shard-1.safetensors sha256 differs"]

    (root / version / "items.npz").unlink()
    checker.poll()
    assert f"poll 3: {version}/items.npz missing" in checker.violations

    (root / CURRENT).unlink()
    checker.poll()
    assert checker.violations[-1] == "poll 4: CURRENT names no complete set"
