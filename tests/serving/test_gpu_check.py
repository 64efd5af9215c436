"""The GPU check script runs end to end on the CPU (CI has no GPU), so it cannot rot unnoticed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from serving.bench.gpu_check import MAX_DELTA_P, compare, fixed_requests, main
from serving.launcher import TritonServer


def test_fixed_requests_are_deterministic_and_differ_per_user() -> None:
    first, again = fixed_requests(4), fixed_requests(4)
    assert first == again
    assert len({r.context for r in first}) == 4
    assert all(len(r.candidates) == 20 and len(r.context_items) == 10 for r in first)


def test_compare_needs_nine_of_the_top_ten_and_a_small_delta() -> None:
    reference = [np.linspace(0.9, 0.1, 20, dtype=np.float32)]
    assert compare(reference, [reference[0] + 0.01])["pass"]
    swapped = reference[0].copy()
    swapped[[0, 19]] = swapped[[19, 0]]  # one of the top 10 falls out: 9 of 10 still pass...
    result = compare(reference, [swapped])
    assert result["min_top10_overlap"] == 9 and not result["pass"], "...but |dP| is 0.8"
    shifted = reference[0] + np.float32(MAX_DELTA_P * 2)
    assert not compare(reference, [shifted])["pass"]


def test_the_check_runs_through_triton_and_writes_its_report(
    tiny_model_dir: Path, triton_server: TritonServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "--device",
            "cpu",
            "--model-path",
            str(tiny_model_dir),
            "--users",
            "3",
            "--batch-sizes",
            "1,2",
            "--repeats",
            "1",
            "--training-groups",
            "2",
            "--triton-url",
            triton_server.grpc_url,
            "--out",
            str(tmp_path),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["precision_check"]["pass"] and report["precision_check"]["min_top10_overlap"] == 10
    assert set(report["scoring"]) == {"1", "2"}
    assert report["scoring"]["2"]["users_per_second"] > 0
    assert report["training"]["samples_per_second"] > 0
    assert "PASS" in out and "samples/s" in out
