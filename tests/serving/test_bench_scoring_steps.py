"""The scoring-steps benchmark: its baseline path agrees with the fast path, and it reports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from models.scoring import Scorer, ScorerConfig
from serving.bench.gpu_check import fixed_requests
from serving.bench.scoring_steps import main, score_row_per_candidate


def test_the_row_per_candidate_baseline_scores_as_the_packed_path(tiny_model_dir: Path) -> None:
    # Two passes of 3 rows for 5 candidates: the baseline's cache copies are exercised too.
    scorer = Scorer.from_pretrained(tiny_model_dir, ScorerConfig(candidate_batch_size=3), precision="float32")
    request = fixed_requests(1)[0]
    candidates = request.candidates[:5]
    np.testing.assert_allclose(
        score_row_per_candidate(scorer, request.context, candidates),
        scorer.score(request.context, candidates),
        rtol=1e-4,
        atol=1e-5,
    )


def test_the_report_lists_every_step_with_its_agreement(tiny_model_dir: Path, tmp_path: Path) -> None:
    code = main(
        ["--model-path", str(tiny_model_dir), "--users", "2", "--repeats", "1", "--out", str(tmp_path)]
    )
    assert code == 0
    report = json.loads((tmp_path / "scoring_steps.json").read_text())
    steps = {step["name"]: step for step in report["steps"]}
    assert list(steps) == [
        "naive",
        "row per candidate (previous)",
        "packed",
        "packed + shared head once",
        "packed + mixed bf16",
        "packed + bf16 model",
        "packed + int8 dynamic",
    ]
    # The exact steps agree with the fp32 reference; every step has a time and a verdict.
    for name in ("naive", "row per candidate (previous)", "packed", "packed + shared head once"):
        assert steps[name]["min_top10_overlap"] == 10 and steps[name]["max_abs_delta_p"] < 1e-4
        assert steps[name]["accepted"]
    assert all(step["seconds"] > 0 and isinstance(step["accepted"], bool) for step in steps.values())
    assert "| packed |" in (tmp_path / "scoring_steps.md").read_text()
    assert (tmp_path / "scoring_steps.png").stat().st_size > 0
