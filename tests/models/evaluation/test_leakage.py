"""No statistic a ranker uses for a target may come from at or after that target's time."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import torch

from models.evaluation.data import Dataset, Target
from models.evaluation.itemknn import ItemKNNRanker
from models.evaluation.popularity import PopularityRanker
from models.evaluation.ranker import FitData, Ranker
from models.evaluation.sasrec import SASRecConfig, SASRecRanker
from models.evaluation.split import build_targets

from .factories import Row, filler_user, make_dataset, with_users

# User "u": five history items, validation like "v" at 6000, test like "t" at 8000, then more.
HISTORIES: dict[str, list[Row]] = {
    "u": [
        ("h1", 1000, 3.0),
        ("h2", 2000, 3.0),
        ("h3", 3000, 2.0),
        ("h4", 4000, 3.0),
        ("h5", 5000, 3.0),
        ("v", 6000, 5.0),
        ("t", 8000, 4.0),
        ("late", 9000, 3.0),
    ],
    "o1": [("h1", 500, 4.0), ("t", 900, 4.0), ("h5", 1500, 5.0), ("x", 2500, 4.0), ("v", 12000, 5.0)],
    "o2": [("h2", 700, 5.0), ("t", 3000, 3.0), ("late", 4000, 3.0)],  # one like: no targets
    "f": filler_user(100, 30),
}
CUTOFF = 8000  # the test target's


@pytest.fixture(scope="module")
def base() -> Dataset:
    return make_dataset(HISTORIES)


@pytest.fixture(scope="module")
def targets(base: Dataset) -> list[Target]:
    return build_targets(base)


@pytest.fixture(scope="module")
def test_target(targets: list[Target]) -> Target:
    (target,) = [t for t in targets if t.key == ("u", "test")]
    assert target.cutoff_ts == CUTOFF and target.positive == "t"
    return target


def negative_of(target: Target) -> str:
    return next(c for c in target.candidates if c != target.positive)


def fit_and_score(ranker: Ranker, dataset: Dataset, targets: Sequence[Target], target: Target) -> list[float]:
    validation = [t for t in targets if t.split == "validation"]
    ranker.fit(FitData(dataset, FitData.cutoffs_from(targets), validation))
    (scores,) = ranker.score([target])
    return scores.tolist()


def others_with(items_and_ts: Sequence[tuple[str, int]], n_users: int = 8) -> dict[str, list[Row]]:
    """``n_users`` new users who each did exactly ``items_and_ts`` (times shifted per user)."""
    return {
        f"extra{k}": sorted(((item, ts + k, 4.0) for item, ts in items_and_ts), key=lambda r: r[1])
        for k in range(n_users)
    }


# -- popularity -------------------------------------------------------------------------------


def test_popularity_ignores_interactions_at_or_after_the_cutoff(
    base: Dataset, targets: list[Target], test_target: Target
) -> None:
    negative = negative_of(test_target)
    before = fit_and_score(PopularityRanker(), base, targets, test_target)
    # The first extra user interacts exactly at the cutoff, the others later.
    future = with_users(base, others_with([(negative, CUTOFF)]))
    assert fit_and_score(PopularityRanker(), future, targets, test_target) == before


def test_popularity_counts_interactions_before_the_cutoff(
    base: Dataset, targets: list[Target], test_target: Target
) -> None:
    negative = negative_of(test_target)
    k = test_target.candidates.index(negative)
    before = fit_and_score(PopularityRanker(), base, targets, test_target)
    past = with_users(base, others_with([(negative, CUTOFF - 10)]))  # 8 users, all before the cutoff
    after = fit_and_score(PopularityRanker(), past, targets, test_target)
    assert after[k] == before[k] + 8
    assert [a for j, a in enumerate(after) if j != k] == [b for j, b in enumerate(before) if j != k]


def test_popularity_excludes_the_target_interaction_itself(base: Dataset, test_target: Target) -> None:
    ranker = PopularityRanker()
    ranker.fit(FitData(base, {}, []))
    (scores,) = ranker.score([test_target])
    # "t" was rated by o1 (900) and o2 (3000) before 8000; u's own rating at 8000 is not counted.
    assert scores[test_target.positive_index] == 2.0


# -- item-kNN ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param([("h5", CUTOFF), ("NEG", CUTOFF + 1)], id="both-at-or-after"),
        pytest.param([("h5", CUTOFF + 5), ("NEG", CUTOFF + 100)], id="both-well-after"),
        pytest.param([("h5", CUTOFF - 100), ("NEG", CUTOFF)], id="history-item-before-candidate-at"),
        pytest.param([("NEG", CUTOFF - 100), ("h5", CUTOFF + 50)], id="candidate-before-history-item-after"),
    ],
)
def test_itemknn_ignores_co_occurrences_completed_after_the_cutoff(
    base: Dataset, targets: list[Target], test_target: Target, rows: list[tuple[str, int]]
) -> None:
    """Other users' interactions at/after the cutoff change nothing.

    The reference is the same dataset with only the extra users' interactions before the
    cutoff: those may legitimately change the scores (they grow the items' user sets).
    """
    negative = negative_of(test_target)
    rows = [(negative if item == "NEG" else item, ts) for item, ts in rows]
    past_rows = [(item, ts) for item, ts in rows if ts < CUTOFF]
    reference = with_users(base, others_with(past_rows)) if past_rows else base
    future = with_users(base, others_with(rows))
    expected = fit_and_score(ItemKNNRanker(windows=(50,)), reference, targets, test_target)
    assert fit_and_score(ItemKNNRanker(windows=(50,)), future, targets, test_target) == expected
    assert expected[test_target.candidates.index(negative)] == 0.0


def test_itemknn_uses_co_occurrences_before_the_cutoff(
    base: Dataset, targets: list[Target], test_target: Target
) -> None:
    negative = negative_of(test_target)
    k = test_target.candidates.index(negative)
    before = fit_and_score(ItemKNNRanker(windows=(50,)), base, targets, test_target)
    assert before[k] == 0.0  # the filler user shares no history item with u
    past = with_users(base, others_with([("h5", CUTOFF - 100), (negative, CUTOFF - 50)]))
    after = fit_and_score(ItemKNNRanker(windows=(50,)), past, targets, test_target)
    assert after[k] > 0.0


# -- training data ----------------------------------------------------------------------------


def test_training_history_ends_before_the_earliest_target(base: Dataset, targets: list[Target]) -> None:
    cutoffs = FitData.cutoffs_from(targets)
    by_key = {t.key: t for t in targets}
    assert cutoffs["u"] == by_key["u", "validation"].cutoff_ts == 6000
    assert cutoffs["u"] < by_key["u", "test"].cutoff_ts
    data = FitData(base, cutoffs, [t for t in targets if t.split == "validation"])
    history = data.training_history("u")
    assert [i.item_id for i in history] == ["h1", "h2", "h3", "h4", "h5"]
    for user, cutoff in cutoffs.items():
        assert all(i.ts < cutoff for i in data.training_history(user)), user


def test_cutoffs_from_takes_the_minimum_in_any_order(targets: list[Target]) -> None:
    assert FitData.cutoffs_from(list(reversed(targets))) == FitData.cutoffs_from(targets)
    assert FitData.cutoffs_from([t for t in targets if t.split == "test"])["u"] == CUTOFF


def test_users_without_targets_keep_their_whole_history(base: Dataset, targets: list[Target]) -> None:
    cutoffs = FitData.cutoffs_from(targets)
    assert "f" not in cutoffs and "o2" not in cutoffs
    data = FitData(base, cutoffs, [])
    assert data.training_history("f") == base.histories["f"]
    assert data.training_history("o2") == base.histories["o2"]
    assert data.training_history("nobody") == ()


def test_fit_data_accepts_only_validation_targets(base: Dataset, targets: list[Target]) -> None:
    with pytest.raises(ValueError, match="validation"):
        FitData(base, {}, [t for t in targets if t.split == "test"])


# -- SASRec -----------------------------------------------------------------------------------


class CapturingSASRec(SASRecRanker):
    """Keeps what ``_windows`` produced so the test can inspect the training sequences."""

    captured: tuple[torch.Tensor, torch.Tensor, list[set[int]]]

    def _windows(self, data: FitData) -> tuple[torch.Tensor, torch.Tensor, list[set[int]]]:
        self.captured = super()._windows(data)
        return self.captured


def sasrec_leakage_dataset() -> tuple[Dataset, dict[str, set[str]], dict[str, set[str]]]:
    """Users whose target and post-target items are unique to them, plus one user without targets."""
    histories: dict[str, list[Row]] = {}
    allowed: dict[str, set[str]] = {}
    forbidden: dict[str, set[str]] = {}
    for u in range(10):
        shared = [f"s{(3 * u + k) % 30}" for k in range(12)]  # 12 shared items, never liked
        rows: list[Row] = [(item, 1000 + 10 * k, 3.0) for k, item in enumerate(shared)]
        rows.append((f"same_ts_{u}", 2000, 3.0))  # shares the validation target's timestamp
        rows += [(f"val_{u}", 2000, 5.0), (f"mid_{u}", 2500, 2.0), (f"test_{u}", 3000, 4.5)]
        rows += [(f"post_{u}_{k}", 4000 + k, 2.0) for k in range(3)]
        histories[f"u{u}"] = rows
        allowed[f"u{u}"] = set(shared)
        forbidden[f"u{u}"] = {item for item, ts, _ in rows if ts >= 2000}
    # No second like: no target, so the whole history (its own unique items included) is training data.
    histories["w"] = [("s1", 100, 2.0), ("w_0", 200, 5.0), ("w_1", 5000, 3.0), ("w_2", 6000, 3.0)]
    allowed["w"] = {"s1", "w_0", "w_1", "w_2"}
    return make_dataset(histories), allowed, forbidden


@pytest.mark.usefixtures("one_torch_thread")
def test_sasrec_trains_only_on_interactions_before_each_users_earliest_target() -> None:
    dataset, allowed, forbidden = sasrec_leakage_dataset()
    targets = build_targets(dataset)
    assert {t.user_id for t in targets} == {f"u{u}" for u in range(10)}
    ranker = CapturingSASRec(
        SASRecConfig(max_len=8, hidden=16, blocks=1, max_epochs=1, eval_every=1, batch_size=64)
    )
    ranker.fit(
        FitData(dataset, FitData.cutoffs_from(targets), [t for t in targets if t.split == "validation"])
    )
    inputs, outputs, owners = ranker.captured
    trained = set(inputs.flatten().tolist()) | set(outputs.flatten().tolist())
    trained.discard(0)  # padding
    index = ranker.index
    leaked = {item for items in forbidden.values() for item in items if index[item] in trained}
    assert not leaked
    # Everything before the cutoffs, and the target-less user's whole history, is used.
    assert trained == {index[item] for items in allowed.values() for item in items}
    assert ranker.n_windows == len(owners) == inputs.shape[0]
    # The negative-sampling exclusions are the users' training items, nothing later.
    assert all(seen <= trained for seen in owners)
