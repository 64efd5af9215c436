"""Several users in one call must score each user exactly as that user scored alone.

The reference is ``score_naive``: full prompts, no cache, no packing, so any mistake in the
batched and packed path (a pad column attended to, positions counted from the padded width, a
row reading another user's cache, a candidate seeing its neighbour) shows up as a difference.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models.exceptions import ScoringInputError
from models.prompts import build_candidate, build_context
from models.scoring import Scorer, ScorerConfig, UserRequest
from models.types import HistoryEntry, ItemText

RTOL, ATOL = 1e-4, 1e-5


@pytest.fixture(scope="module")
def scorer(tiny_model_dir: Path) -> Scorer:
    # Three candidates per user per pass: the 4 candidates of the first user take two passes,
    # and in the second pass the other users' rows are all padding.
    return Scorer.from_pretrained(tiny_model_dir, ScorerConfig(candidate_batch_size=3))


def history(n: int, offset: int = 0) -> str:
    return build_context(
        [
            HistoryEntry(ItemText(f"h{i}", f"Seen movie {i + offset}", ("Drama",)), "rating", 1.0 + i % 5, i)
            for i in range(n)
        ]
    )


def users() -> list[UserRequest]:
    """Very different context lengths (so the short ones carry many pad columns in the middle of
    their cache) and different candidate counts, with candidates of different lengths."""
    return [
        UserRequest(
            history(30),
            (
                build_candidate(ItemText("a", "Heat", ("Action",))),
                "Yes",
                " No, definitely not",
                "Target item: a very long candidate description that goes on and on and on",
            ),
        ),
        UserRequest("Hi", ("x",)),
        UserRequest(
            history(3, offset=7),
            (build_candidate(ItemText("b", "Babe (1995)", ("Children", "Drama"))), "Yes", "z z z z"),
        ),
        UserRequest(history(1, offset=2), ("Target item: Casino\n\n### Response:",)),
    ]


def alone(scorer: Scorer, request: UserRequest) -> np.ndarray:
    return scorer.score_naive(request.context, list(request.candidates))


def test_one_user_equals_score(scorer: Scorer) -> None:
    request = users()[0]
    (many,) = scorer.score_many([request])
    assert many.dtype == np.float32 and many.shape == (len(request.candidates),)
    np.testing.assert_allclose(many, alone(scorer, request), rtol=RTOL, atol=ATOL)


def test_each_user_of_a_mixed_batch_equals_score_alone(scorer: Scorer) -> None:
    requests = users()
    lengths = [len(scorer.tokenizer(r.context)["input_ids"]) for r in requests]
    assert max(lengths) > 20 * min(lengths), "the test needs very different context lengths"
    passes: list[list[int]] = []
    results = scorer.score_many(requests, before_pass=lambda rows: passes.append(rows.tolist()))
    assert len(results) == len(requests)
    for request, result in zip(requests, results, strict=True):
        assert result.dtype == np.float32 and result.shape == (len(request.candidates),)
        np.testing.assert_allclose(result, alone(scorer, request), rtol=RTOL, atol=ATOL)
    # Row u of every pass is user u: the prefix pass and two candidate passes.
    assert passes == [[0, 1, 2, 3]] * 3
    flat = np.concatenate(results)
    assert np.ptp(flat) > 0.01, "near-constant scores would make the comparison weak"


def test_the_order_of_the_requests_does_not_matter(scorer: Scorer) -> None:
    requests = users()
    baseline = scorer.score_many(requests)
    order = [2, 0, 3, 1]
    permuted = scorer.score_many([requests[i] for i in order])
    for position, index in enumerate(order):
        np.testing.assert_allclose(permuted[position], baseline[index], rtol=RTOL, atol=ATOL)


def test_the_same_context_for_two_users_gives_the_same_scores(scorer: Scorer) -> None:
    # Short and long contexts interleaved: each row must read its own user's cache row.
    short, long = users()[1], users()[0]
    results = scorer.score_many([long, short, long])
    np.testing.assert_allclose(results[0], results[2], rtol=RTOL, atol=ATOL)
    other = scorer.score_many([UserRequest(short.context, long.candidates)])[0]
    assert not np.allclose(other, results[0], rtol=0, atol=1e-3), "the context must change the scores"


def test_the_hook_sees_one_row_per_user_before_every_pass(scorer: Scorer) -> None:
    requests = users()
    passes: list[torch.Tensor] = []
    scorer.score_many(requests, before_pass=passes.append)
    assert all(p.dtype == torch.long and p.device.type == "cpu" for p in passes)
    # The prefix pass, then ceil(4 candidates / 3 per pass) candidate passes.
    assert [p.tolist() for p in passes] == [list(range(len(requests)))] * 3


def test_score_equals_the_naive_reference_across_several_passes(scorer: Scorer) -> None:
    # 4 candidates at 3 per pass: the first pass must leave the prefix cache intact for the second.
    request = users()[0]
    np.testing.assert_allclose(
        scorer.score(request.context, list(request.candidates)), alone(scorer, request), rtol=RTOL, atol=ATOL
    )


def test_no_requests_give_no_results(scorer: Scorer) -> None:
    called: list[torch.Tensor] = []
    assert scorer.score_many([], before_pass=called.append) == []
    assert called == []


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (UserRequest("ctx", ()), "request 1: candidates must not be empty"),
        (UserRequest("ctx", ("ok", "")), "request 1: candidate 1 produces no tokens"),
        (UserRequest("", ("ok",)), "request 1: context must produce at least one token"),
        (UserRequest("ctx", ("c",) * 5), "request 1: 5 candidates exceed max_candidates=4"),
        (
            UserRequest("word " * 40, ("ok",)),
            r"request 1: context has \d+ tokens, above max_context_tokens=16",
        ),
    ],
)
def test_each_user_keeps_the_single_user_limits(tiny_model_dir: Path, bad: UserRequest, message: str) -> None:
    scorer = Scorer.from_pretrained(tiny_model_dir, ScorerConfig(max_candidates=4, max_context_tokens=16))
    fine = UserRequest("ctx", ("a", "b", "c", "d"))
    called: list[torch.Tensor] = []
    with pytest.raises(ScoringInputError, match=message):
        scorer.score_many([fine, bad, fine], before_pass=called.append)
    assert called == [], "input is checked before any forward pass"
    # Four users at the per-user limit are fine together: the limit is per user, not per call.
    assert [len(r) for r in scorer.score_many([fine] * 4)] == [4] * 4
