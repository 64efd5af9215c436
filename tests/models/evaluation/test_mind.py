"""MIND parsing and impression targets, on a hand-written fixture (the shared sample is format-only)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.evaluation.config import EvalConfig
from models.evaluation.mind import load_mind, parse_behaviors, parse_news
from models.evaluation.runner import run_evaluation

NEWS = [
    ["N1", "sports", "football", "Team wins", "A match report.", "https://x/1.html", "[]", "[]"],
    ["N2", "news", "politics", "Vote today", "", "https://x/2.html", "[]", "[]"],
    ["N3", "lifestyle", "food", "Best soup", "Warm soup.", "https://x/3.html", "[]", "[]"],
    ["N4", "sports", "tennis", "Final set", "Tennis.", "https://x/4.html", "[]", "[]"],
    ["N5", "news", "world", "Storm ahead", "Weather.", "https://x/5.html", "[]", "[]"],
    ["N6", "finance", "markets", "Stocks up", "Markets.", "https://x/6.html", "[]", "[]"],
]
BEHAVIORS = [
    # U1: two usable impressions -> validation (earlier) and test (later).
    ["1", "U1", "11/11/2019 9:00:00 AM", "N1 N9", "N2-1 N3-0 N99-0"],
    ["2", "U1", "11/12/2019 3:30:00 PM", "N1 N9", "N4-0 N5-1 N6-0 N2-1"],
    # U2: the only clicked news has no text -> no target.
    ["3", "U2", "11/13/2019 8:00:00 AM", "", "N98-1 N3-0"],
    # U3: one usable impression -> test only; empty history.
    ["4", "U3", "11/14/2019 11:50:13 PM", "", "N6-1 N1-0"],
]


@pytest.fixture
def mind_dir(tmp_path: Path) -> Path:
    (tmp_path / "news.tsv").write_text("\n".join("\t".join(r) for r in NEWS) + "\n", encoding="utf-8")
    (tmp_path / "behaviors.tsv").write_text(
        "\n".join("\t".join(r) for r in BEHAVIORS) + "\n", encoding="utf-8"
    )
    return tmp_path


def test_news_become_items(mind_dir: Path) -> None:
    items = parse_news(mind_dir / "news.tsv")
    assert items["N1"].title == "Team wins"
    assert items["N1"].categories == ("sports", "football")
    assert items["N1"].description == "A match report."
    assert items["N2"].description is None


def test_behaviors_parse_time_history_and_labels(mind_dir: Path) -> None:
    [first, *_] = parse_behaviors(mind_dir / "behaviors.tsv")
    assert first.user_id == "U1" and first.history == ("N1", "N9")
    assert first.shown == (("N2", True), ("N3", False), ("N99", False))
    assert first.ts == 1573462800000  # 2019-11-11 09:00:00 UTC


def test_bad_rows_name_the_line(tmp_path: Path) -> None:
    (tmp_path / "behaviors.tsv").write_text("1\tU1\t11/11/2019 9:00:00 AM\t\tN1-7\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"behaviors.tsv:1: bad impression entry"):
        parse_behaviors(tmp_path / "behaviors.tsv")
    (tmp_path / "behaviors.tsv").write_text("1\tU1\tnot a time\t\tN1-1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"behaviors.tsv:1"):
        parse_behaviors(tmp_path / "behaviors.tsv")


def test_impressions_become_targets_with_their_own_candidates(mind_dir: Path) -> None:
    dataset = load_mind(mind_dir)
    assert dataset.fixed_targets is not None
    targets = {t.key: t for t in dataset.fixed_targets}
    assert set(targets) == {("U1", "validation"), ("U1", "test"), ("U3", "test")}
    validation, test = targets[("U1", "validation")], targets[("U1", "test")]
    # Shown news with text only; the first clicked one is the positive; other clicks are dropped.
    assert validation.positive == "N2" and set(validation.candidates) == {"N2", "N3"}
    assert test.positive == "N5" and set(test.candidates) == {"N5", "N4", "N6"}
    # History: pre-window clicks (ts 0), then in-window clicks strictly before the impression.
    assert [i.item_id for i in validation.history] == ["N1", "N9"]
    assert [i.item_id for i in test.history] == ["N1", "N9", "N2"]
    assert all(i.ts < test.cutoff_ts for i in test.history)
    assert targets[("U3", "test")].history == ()


def test_candidate_cap_is_seeded(tmp_path: Path) -> None:
    news = [[f"N{k}", "news", "world", f"Story {k}", "", "u", "[]", "[]"] for k in range(1, 40)]
    shown = " ".join(["N1-1"] + [f"N{k}-0" for k in range(2, 40)])
    (tmp_path / "news.tsv").write_text("\n".join("\t".join(r) for r in news) + "\n", encoding="utf-8")
    (tmp_path / "behaviors.tsv").write_text(f"1\tU1\t11/11/2019 9:00:00 AM\t\t{shown}\n", encoding="utf-8")
    [a] = load_mind(tmp_path, seed=0).fixed_targets or ()
    [b] = load_mind(tmp_path, seed=0).fixed_targets or ()
    [c] = load_mind(tmp_path, seed=1).fixed_targets or ()
    assert len(a.candidates) == 21 and a.candidates == b.candidates and set(a.candidates) != set(c.candidates)


def test_eval_runs_on_mind(mind_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = run_evaluation(
        EvalConfig(
            data=mind_dir,
            out=out,
            dataset="mind",
            models=("random", "popularity", "itemknn"),
            progress=False,
        )
    )
    assert report["dataset"]["name"] == "mind" and report["targets"]["test"] == 2
    lines = [json.loads(x) for x in (out / "rankings.jsonl").read_text().splitlines()]
    assert {(x["user_id"], x["split"]) for x in lines} == {
        ("U1", "validation"),
        ("U1", "test"),
        ("U3", "test"),
    }


SHARED_MIND = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "mind-small-train-sample"


@pytest.mark.skipif(not SHARED_MIND.is_dir(), reason="shared MIND sample not present")
def test_shared_sample_parses() -> None:
    """The 5,000-impression sample parses; it only has ~120 usable impressions (format test only)."""
    dataset = load_mind(SHARED_MIND)
    assert len(dataset.items) == 2000 and len(dataset.histories) == 4637
    assert dataset.fixed_targets and all(t.positive in dataset.items for t in dataset.fixed_targets)
