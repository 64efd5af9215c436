"""Prefix-cached scoring must equal the plain full-prompt computation, whatever the batch."""

from pathlib import Path

import numpy as np
import pytest

from models.exceptions import ModelLoadError, ScoringInputError
from models.loading import resolve_model_dir
from models.packing import hoist_shared_head
from models.prompts import build_candidate, build_context
from models.scoring import Scorer, ScorerConfig, answer_token_ids
from models.types import HistoryEntry, ItemText

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def scorer(tiny_model_dir: Path) -> Scorer:
    # A small candidate batch so a 7-candidate request also exercises the batching loop.
    return Scorer.from_pretrained(tiny_model_dir, ScorerConfig(candidate_batch_size=3))


def request() -> tuple[str, list[str]]:
    history = [
        HistoryEntry(ItemText(f"h{i}", f"Seen movie {i}", ("Drama",)), "rating", 1.0 + i, i) for i in range(4)
    ]
    # Different lengths (so right padding matters) and different endings (so the tiny random
    # model gives clearly different probabilities).
    candidates = [
        build_candidate(ItemText("a", "Heat", ("Action",))),
        "Target item: a very long candidate description that goes on and on and on",
        "Yes",
        build_candidate(ItemText("b", "Babe (1995)", ("Children", "Drama", "Comedy"))),
        " No, definitely not",
        "x",
        "Target item: Casino\n\n### Response:",
    ]
    return build_context(history), candidates


def test_prefix_cached_equals_naive(scorer: Scorer) -> None:
    context, candidates = request()
    cached = scorer.score(context, candidates)
    naive = scorer.score_naive(context, candidates)
    assert cached.dtype == np.float32 and cached.shape == (len(candidates),)
    np.testing.assert_allclose(cached, naive, atol=TOLERANCE, rtol=0)
    assert np.all((cached > 0) & (cached < 1))
    # Random weights, yet the candidates must not all get the same score: otherwise the
    # comparison above would prove little.
    assert np.ptp(cached) > 0.01


def test_the_shared_candidate_head_runs_once_with_the_same_scores(tiny_model_dir: Path) -> None:
    # Real TALLRec candidates all start "Target item: \"": hoisting that head into the prefix
    # must leave every score as the naive full prompts give it.
    context, _ = request()
    candidates = [
        build_candidate(ItemText(str(i), title, genres))
        for i, (title, genres) in enumerate(
            [("Heat", ("Action",)), ("Babe", ("Children", "Drama")), ("Casino", ()), ("Hea", ("Crime",))]
        )
    ]
    hoisted = Scorer.from_pretrained(tiny_model_dir, ScorerConfig(candidate_batch_size=3))
    whole = Scorer.from_pretrained(
        tiny_model_dir, ScorerConfig(candidate_batch_size=3, hoist_shared_head=False)
    )
    context_ids, candidate_ids = hoisted.tokenize(context, candidates)
    moved, _ = hoist_shared_head(context_ids, candidate_ids)
    assert len(moved) > len(context_ids)  # the case under test: there is a shared head
    scores = hoisted.score(context, candidates)
    np.testing.assert_allclose(scores, whole.score(context, candidates), atol=1e-5, rtol=0)
    np.testing.assert_allclose(scores, hoisted.score_naive(context, candidates), atol=TOLERANCE, rtol=0)
    assert np.ptp(scores) > 0.01


def test_permuting_candidates_permutes_probabilities(scorer: Scorer) -> None:
    context, candidates = request()
    baseline = scorer.score(context, candidates)
    order = np.random.default_rng(0).permutation(len(candidates))
    permuted = scorer.score(context, [candidates[i] for i in order])
    np.testing.assert_allclose(permuted, baseline[order], atol=1e-5, rtol=0)


def test_a_candidate_scores_the_same_alone_and_in_a_batch(scorer: Scorer) -> None:
    context, candidates = request()
    batch = scorer.score(context, candidates)
    for index in (0, 2, 5):
        alone = scorer.score(context, [candidates[index]])
        assert alone[0] == pytest.approx(batch[index], abs=1e-5)


def test_context_changes_the_scores(scorer: Scorer) -> None:
    context, candidates = request()
    other = build_context([HistoryEntry(ItemText("z", "Something else"), "dislike", None, 0)])
    assert not np.allclose(scorer.score(context, candidates), scorer.score(other, candidates))


@pytest.mark.parametrize(
    ("context", "candidates", "message"),
    [
        ("ctx", [], "candidates must not be empty"),
        ("ctx", ["ok", ""], "candidate 1 produces no tokens"),
        ("", ["ok"], "context must produce at least one token"),
        ("ctx", ["c"] * 9, "9 candidates exceed max_candidates=8"),
    ],
)
def test_rejects_unscorable_input(
    tiny_model_dir: Path, context: str, candidates: list[str], message: str
) -> None:
    scorer = Scorer.from_pretrained(tiny_model_dir, ScorerConfig(max_candidates=8))
    with pytest.raises(ScoringInputError, match=message):
        scorer.score(context, candidates)
    with pytest.raises(ScoringInputError, match=message):
        scorer.score_naive(context, candidates)


def test_answer_tokens_cover_both_spellings(scorer: Scorer) -> None:
    yes, no = answer_token_ids(scorer.tokenizer)
    assert [scorer.tokenizer.decode([i]) for i in yes] == ["Yes", " Yes"]
    assert [scorer.tokenizer.decode([i]) for i in no] == ["No", " No"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_candidates", 0),
        ("candidate_batch_size", -1),
        ("max_context_tokens", 1.5),
        ("hoist_shared_head", 1),
    ],
)
def test_scorer_config_validation(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"ScorerConfig.{field}.*{value!r}"):
        ScorerConfig(**{field: value})  # type: ignore[arg-type]


def test_missing_model_path_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not a directory"):
        resolve_model_dir(tmp_path, tmp_path / "nope")
    with pytest.raises(ModelLoadError):
        Scorer.from_pretrained(tmp_path / "nope")
