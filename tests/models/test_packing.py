"""The packed layout: which column each query may attend to, positions, and where answers are read."""

from __future__ import annotations

import pytest
import torch

from models.packing import hoist_shared_head, pack_candidates


def test_one_user_two_candidates_see_the_prefix_and_themselves_only() -> None:
    # Prefix of 3 real tokens; candidates of 2 and 3 tokens.
    packed = pack_candidates(
        [[[11, 12], [21, 22, 23]]], torch.ones((1, 3), dtype=torch.long), torch.tensor([3])
    )
    assert packed.ids.tolist() == [[11, 12, 21, 22, 23]]
    assert packed.position_ids.tolist() == [[3, 4, 3, 4, 5]]  # each candidate restarts after the prefix
    allowed = packed.allowed[0, 0].int().tolist()
    #            prefix  | c0 c0 | c1 c1 c1
    assert allowed == [
        [1, 1, 1, 1, 0, 0, 0, 0],
        [1, 1, 1, 1, 1, 0, 0, 0],
        [1, 1, 1, 0, 0, 1, 0, 0],
        [1, 1, 1, 0, 0, 1, 1, 0],
        [1, 1, 1, 0, 0, 1, 1, 1],
    ]
    assert packed.last_rows.tolist() == [0, 0]
    assert packed.last_columns.tolist() == [1, 4]


def test_pad_columns_of_a_short_prefix_and_pad_queries_are_masked() -> None:
    prefix_mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
    packed = pack_candidates([[[5]], [[6, 7]]], prefix_mask, torch.tensor([3, 1]))
    assert packed.ids.tolist() == [[5, 0], [6, 7]]
    assert packed.position_ids[1].tolist() == [1, 2]
    # Row 1 (prefix length 1) never sees its two pad columns.
    assert packed.allowed[1, 0].int().tolist() == [[1, 0, 0, 1, 0], [1, 0, 0, 1, 1]]
    # Row 0's second query is padding: it sees only itself, so its softmax is over something.
    assert packed.allowed[0, 0].int().tolist() == [[1, 1, 1, 1, 0], [0, 0, 0, 0, 1]]
    assert list(zip(packed.last_rows.tolist(), packed.last_columns.tolist(), strict=True)) == [(0, 0), (1, 1)]


def test_a_user_without_candidates_in_this_pass_is_all_padding() -> None:
    packed = pack_candidates([[[5, 6]], []], torch.ones((2, 2), dtype=torch.long), torch.tensor([2, 2]))
    assert packed.last_rows.tolist() == [0]
    assert not packed.allowed[1, 0, :, :2].any()  # the empty row reads no prefix


def test_additive_mask_is_zero_where_allowed_and_the_dtype_minimum_elsewhere() -> None:
    packed = pack_candidates([[[1], [2]]], torch.ones((1, 1), dtype=torch.long), torch.tensor([1]))
    mask = packed.additive_mask(torch.bfloat16)
    assert mask.dtype == torch.bfloat16
    assert (mask[packed.allowed] == 0).all()
    assert (mask[~packed.allowed] == torch.finfo(torch.bfloat16).min).all()


def test_row_counts_must_agree() -> None:
    with pytest.raises(ValueError, match="row counts"):
        pack_candidates([[[1]]], torch.ones((2, 1), dtype=torch.long), torch.tensor([1, 1]))


def test_the_shared_head_moves_to_the_end_of_the_context() -> None:
    context, tails = hoist_shared_head([1, 2], [[7, 8, 9, 10], [7, 8, 5], [7, 8, 9, 6]])
    assert context == [1, 2, 7, 8]
    assert tails == [[9, 10], [5], [9, 6]]
    # Each candidate's full sequence is unchanged: that is what makes it exact.
    assert [context + t for t in tails] == [[1, 2, 7, 8, 9, 10], [1, 2, 7, 8, 5], [1, 2, 7, 8, 9, 6]]


@pytest.mark.parametrize(
    ("candidates", "tails"),
    [
        ([[7, 8, 9]], [[9]]),  # a lone candidate keeps its last token, where the answer is read
        ([[7, 8], [7, 8, 9]], [[8], [8, 9]]),  # a candidate that prefixes another caps the head
        ([[7], [7]], [[7], [7]]),  # one-token candidates keep their only token
        ([[1, 2], [3, 2]], [[1, 2], [3, 2]]),  # nothing shared
        ([], []),
    ],
)
def test_every_candidate_keeps_at_least_its_last_token(
    candidates: list[list[int]], tails: list[list[int]]
) -> None:
    context, got = hoist_shared_head([0], candidates)
    assert got == tails
    assert all(context + t == [0, *c] for t, c in zip(got, candidates, strict=True))
