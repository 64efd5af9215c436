"""A whole run on a small MovieLens directory: every model, every report file, reproducible."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.evaluation.config import LLM_MODELS, MODEL_NAMES, AdapterEvalConfig, EvalConfig
from models.evaluation.metrics import METRIC_NAMES, BootstrapConfig
from models.evaluation.movielens import load_movielens
from models.evaluation.runner import run_evaluation
from models.evaluation.sasrec import SASRecConfig
from models.evaluation.split import SplitConfig, build_targets
from models.evaluation.summaries import SummaryChainConfig
from models.summarizer import GenerationConfig
from tests.models.evaluation.ml_fixture import write_movielens


@pytest.fixture(scope="module")
def movielens_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_movielens(tmp_path_factory.mktemp("ml") / "ml-tiny")


def _config(data: Path, out: Path, model: Path, **overrides: Any) -> EvalConfig:
    base: dict[str, Any] = {
        "data": data,
        "out": out,
        "data_dir": out / "data-dir",  # the item-vector cache goes here, not in the checkout
        "users": 8,
        "seed": 3,
        "model_path": model,
        "sasrec": SASRecConfig(max_len=8, hidden=16, max_epochs=3, eval_every=1),
        "chain": SummaryChainConfig(blocks=1),
        "generation": GenerationConfig(max_new_tokens=4),
        "bootstrap": BootstrapConfig(resamples=200, seed=3),
        "adapters": AdapterEvalConfig(shards=2, max_samples=120, epochs=1),
        "progress": False,
    }
    base.update(overrides)
    return EvalConfig(**base)


def _rank(scores: list[float], positive: int) -> int:
    return 1 + sum(1 for k, s in enumerate(scores) if k != positive and s >= scores[positive])


@pytest.fixture(scope="module")
def full_run(movielens_dir: Path, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("eval-a")
    run_evaluation(_config(movielens_dir, out, tiny_model_dir))
    return out


def test_every_report_file_is_written(full_run: Path) -> None:
    for name in ("report.json", "report.md", "metrics.png", "rankings.jsonl", "summaries.jsonl"):
        assert (full_run / name).stat().st_size > 0, name
    assert (full_run / "metrics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads((full_run / "report.json").read_text())
    assert list(report["models"]) == list(MODEL_NAMES)
    assert len(report["dataset"]["sha256"]) == 64
    assert report["targets"] == {"eligible_users": 12, "evaluated_users": 8, "validation": 8, "test": 8}
    for name, model in report["models"].items():
        assert set(model["metrics"]) == set(METRIC_NAMES)
        for metric in model["metrics"].values():
            low, high = metric["ci95"]
            assert 0 <= low <= metric["value"] <= high <= 1
        assert model["wall_time_s"] >= 0
        # The LLMs score the test split only unless asked; the others both splits.
        expected = {"validation": 0 if name in LLM_MODELS else 8, "test": 8}
        assert model["targets"] == expected
    sasrec = report["models"]["sasrec"]["info"]
    assert sasrec["hyperparameters"]["hidden"] == 16 and sasrec["train_seconds"] > 0
    markdown = (full_run / "report.md").read_text()
    assert "| sasrec |" in markdown and "## Test split" in markdown and "## Validation split" in markdown


def test_metrics_can_be_recomputed_from_rankings(full_run: Path) -> None:
    """rankings.jsonl alone reproduces every reported mean, with pessimistic ties."""
    report = json.loads((full_run / "report.json").read_text())
    lines = [json.loads(line) for line in (full_run / "rankings.jsonl").read_text().splitlines()]
    assert len(lines) == 16
    for name, model in report["models"].items():
        ranks = [
            _rank(line["scores"][name], line["candidates"].index(line["positive"]))
            for line in lines
            if line["split"] == "test"
        ]
        assert len(ranks) == 8
        for k in (3, 5, 10):
            assert model["metrics"][f"recall@{k}"]["value"] == pytest.approx(np.mean([r <= k for r in ranks]))
            assert model["metrics"][f"mrr@{k}"]["value"] == pytest.approx(
                np.mean([1 / r if r <= k else 0 for r in ranks])
            )
        ndcg = np.mean([1 / math.log2(r + 1) if r <= 10 else 0 for r in ranks])
        assert model["metrics"]["ndcg@10"]["value"] == pytest.approx(ndcg)
    for line in lines:
        assert len(line["candidates"]) == 21 and line["positive"] in line["candidates"]
        for scores in line["scores"].values():
            assert len(scores) == 21


def test_rankings_use_the_split_targets(full_run: Path, movielens_dir: Path) -> None:
    """Every line is the seeded target of that user: same positive, same candidates."""
    targets = {t.key: t for t in build_targets(load_movielens(movielens_dir), SplitConfig(seed=3))}
    for line in (full_run / "rankings.jsonl").read_text().splitlines():
        row = json.loads(line)
        target = targets[(row["user_id"], row["split"])]
        assert row["positive"] == target.positive
        assert row["candidates"] == list(target.candidates)


def test_same_seed_same_report(
    full_run: Path, movielens_dir: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    run_evaluation(_config(movielens_dir, tmp_path, tiny_model_dir))
    assert (tmp_path / "rankings.jsonl").read_text() == (full_run / "rankings.jsonl").read_text()
    assert (tmp_path / "summaries.jsonl").read_text() == (full_run / "summaries.jsonl").read_text()
    first = json.loads((full_run / "report.json").read_text())["models"]
    second = json.loads((tmp_path / "report.json").read_text())["models"]
    assert {m: b["metrics"] for m, b in first.items()} == {m: b["metrics"] for m, b in second.items()}


def test_another_seed_draws_other_users_and_negatives(movielens_dir: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    common: dict[str, Any] = {"models": ("random", "popularity"), "users": 5}
    run_evaluation(_config(movielens_dir, a, Path("unused"), seed=1, **common))
    run_evaluation(_config(movielens_dir, b, Path("unused"), seed=2, **common))
    lines_a = [json.loads(x) for x in (a / "rankings.jsonl").read_text().splitlines()]
    lines_b = [json.loads(x) for x in (b / "rankings.jsonl").read_text().splitlines()]
    assert [(x["user_id"], x["candidates"]) for x in lines_a] != [
        (x["user_id"], x["candidates"]) for x in lines_b
    ]


def test_llm_validation_is_opt_in(movielens_dir: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    config = _config(movielens_dir, tmp_path, tiny_model_dir, models=("llm-zeroshot",), users=3)
    report = run_evaluation(EvalConfig(**{**config.__dict__, "llm_splits": ("validation", "test")}))
    assert report["models"]["llm-zeroshot"]["targets"] == {"validation": 3, "test": 3}
    assert report["models"]["llm-zeroshot"]["validation_metrics"] is not None


def test_config_rejects_unknown_models_and_datasets(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="models"):
        EvalConfig(data=tmp_path, out=tmp_path, models=("sasrec", "bert4rec"))
    with pytest.raises(ValueError, match="dataset"):
        EvalConfig(data=tmp_path, out=tmp_path, dataset="netflix")
    with pytest.raises(ValueError, match="users"):
        EvalConfig(data=tmp_path, out=tmp_path, users=0)


def test_targets_are_shared_by_every_model(full_run: Path) -> None:
    """Each line carries scores from every model that ran on its split: the same candidates for all."""
    for line in (full_run / "rankings.jsonl").read_text().splitlines():
        row = json.loads(line)
        expected = set(MODEL_NAMES) if row["split"] == "test" else set(MODEL_NAMES) - LLM_MODELS
        assert set(row["scores"]) == expected


def test_paired_comparisons_cover_every_pair(full_run: Path) -> None:
    report = json.loads((full_run / "report.json").read_text())
    pairs = report["comparisons"]
    assert (
        len(pairs) == len(MODEL_NAMES) * (len(MODEL_NAMES) - 1) // 2
        and "llm-summary - random" in pairs
        and "random - sasrec" not in pairs
    )
    lines = [json.loads(x) for x in (full_run / "rankings.jsonl").read_text().splitlines()]
    test = [x for x in lines if x["split"] == "test"]
    a = [_rank(x["scores"]["sasrec"], x["candidates"].index(x["positive"])) for x in test]
    b = [_rank(x["scores"]["random"], x["candidates"].index(x["positive"])) for x in test]
    expected = np.mean([int(r <= 10) for r in a]) - np.mean([int(r <= 10) for r in b])
    assert pairs["sasrec - random"]["recall@10"]["value"] == pytest.approx(expected)
    assert "## Paired differences" in (full_run / "report.md").read_text()


def test_resume_reuses_finished_models_only_for_an_identical_run(
    movielens_dir: Path, tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long run that died keeps its finished rows; a changed configuration does not reuse them."""
    import models.evaluation.runner as runner

    common: dict[str, Any] = {"models": ("random", "itemknn", "llm-zeroshot"), "users": 4}
    first = run_evaluation(_config(movielens_dir, tmp_path, tiny_model_dir, **common))
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "itemknn.json",
        "llm-zeroshot.json",
        "random.json",
    ]
    rankings = (tmp_path / "rankings.jsonl").read_text()
    built: list[str] = []
    original = runner.make_ranker

    def spy(name: str, *args: Any) -> Any:
        built.append(name)
        return original(name, *args)

    monkeypatch.setattr(runner, "make_ranker", spy)
    again = run_evaluation(
        EvalConfig(**{**_config(movielens_dir, tmp_path, tiny_model_dir, **common).__dict__, "resume": True})
    )
    assert built == [], "every model came from its checkpoint"
    assert (tmp_path / "rankings.jsonl").read_text() == rankings, "scores read back bit for bit"
    assert {m: b["metrics"] for m, b in again["models"].items()} == {
        m: b["metrics"] for m, b in first["models"].items()
    }
    changed = _config(movielens_dir, tmp_path, tiny_model_dir, prompt_recent=3, **common)
    run_evaluation(EvalConfig(**{**changed.__dict__, "resume": True}))
    assert built == ["random", "itemknn", "llm-zeroshot"], "another prompt: nothing may be reused"


def test_the_item_vectors_are_cached_and_reused_across_runs(
    movielens_dir: Path, tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from models.training import trainer

    config = _config(movielens_dir, tmp_path / "first", tiny_model_dir, models=("llm-apa-random",))
    first = run_evaluation(config)
    cached = list((tmp_path / "first" / "data-dir" / "cache").glob("item-vectors-*.npz"))
    assert len(cached) == 1
    # A second run in a fresh output dir with the same data dir embeds nothing.
    embedded: list[int] = []
    original = trainer.ItemEmbedder.embed

    def counting(self: Any, item: Any) -> Any:
        embedded.append(1)
        return original(self, item)

    monkeypatch.setattr(trainer.ItemEmbedder, "embed", counting)
    second = run_evaluation(EvalConfig(**{**config.__dict__, "out": tmp_path / "second"}))
    assert embedded == []
    name = "llm-apa-random"
    assert first["models"][name]["metrics"] == second["models"][name]["metrics"]
    assert first["models"][name]["info"]["shard_users"] == second["models"][name]["info"]["shard_users"]
