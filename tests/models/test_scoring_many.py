"""Several users in one call must score each user exactly as ``score`` does for that user alone.

``score`` is the reference: it runs one context with no padding, so any mistake in the batched
path (a pad column attended to, positions counted from the padded width, a row reading another
user's cache) shows up as a difference from it.
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
    # Three rows per candidate pass: the 9 rows of ``users()`` take three passes, two of which
    # hold rows of two different users.
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
    return scorer.score(request.context, list(request.candidates))


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
    # Batches crossed user boundaries, so the comparison above covered mixed batches.
    assert passes[0] == [0, 1, 2, 3]
    assert any(len(set(rows)) > 1 for rows in passes[1:])
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


def test_the_hook_sees_every_row_once_in_order(scorer: Scorer) -> None:
    requests = users()
    passes: list[torch.Tensor] = []
    scorer.score_many(requests, before_pass=passes.append)
    assert all(p.dtype == torch.long and p.device.type == "cpu" for p in passes)
    rows = torch.cat(passes[1:]).tolist()
    assert rows == [u for u, r in enumerate(requests) for _ in r.candidates]
    assert [len(p) for p in passes[1:]] == [3, 3, 3]


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
