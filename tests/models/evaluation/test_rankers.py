"""The baselines: random, popularity, item-kNN and SASRec."""

from __future__ import annotations

import math
from dataclasses import asdict

import numpy as np
import pytest

from models.evaluation.data import Dataset, Target
from models.evaluation.itemknn import ItemKNNRanker
from models.evaluation.metrics import positive_rank
from models.evaluation.popularity import PopularityRanker
from models.evaluation.random_ranker import RandomRanker
from models.evaluation.ranker import FitData
from models.evaluation.sasrec import SASRecConfig, SASRecRanker
from models.evaluation.split import SplitConfig, build_targets

from .factories import Row, filler_user, make_dataset, make_target


def ranks_of(scores: list[np.ndarray], targets: list[Target]) -> np.ndarray:
    return np.array([positive_rank(s, t.positive_index) for s, t in zip(scores, targets, strict=True)])


# -- random -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def split_targets() -> list[Target]:
    histories: dict[str, list[Row]] = {
        str(u): [(f"a{u}", 100, 3.0), (f"b{u}", 200, 5.0), (f"c{u}", 300, 4.0), (f"d{u}", 400, 4.0)]
        for u in range(4)
    }
    histories["f"] = filler_user(100, 25)
    return build_targets(make_dataset(histories))


def test_random_ranker_is_seeded_per_target(split_targets: list[Target]) -> None:
    first = RandomRanker(seed=1).score(split_targets)
    again = RandomRanker(seed=1).score(split_targets)
    assert len(first) == len(split_targets)
    for scores, repeat, target in zip(first, again, split_targets, strict=True):
        assert scores.shape == (len(target.candidates),)
        np.testing.assert_array_equal(scores, repeat)
    # Per target, not per call: scoring a subset or another order gives the same numbers.
    subset = RandomRanker(seed=1).score(split_targets[::-1][:3])
    for scores, target in zip(subset, split_targets[::-1][:3], strict=True):
        np.testing.assert_array_equal(scores, first[split_targets.index(target)])
    # Different targets get different draws.
    assert not np.array_equal(first[0], first[1])


def test_random_ranker_seed_changes_the_scores(split_targets: list[Target]) -> None:
    first = RandomRanker(seed=1).score(split_targets)
    other = RandomRanker(seed=2).score(split_targets)
    assert all(not np.array_equal(a, b) for a, b in zip(first, other, strict=True))
    assert RandomRanker(seed=2).info() == {"seed": 2}


def test_random_ranker_is_near_chance() -> None:
    candidates = [str(k) for k in range(21)]
    targets = [
        make_target(f"u{u}", "0", candidates, [("h", 1, 5.0)], cutoff_ts=10, split="test") for u in range(400)
    ]
    ranks = ranks_of(RandomRanker().score(targets), targets)
    assert set(ranks.tolist()) <= set(range(1, 22))
    assert 10 < float(np.mean(ranks)) < 12  # expected 11


# -- popularity -------------------------------------------------------------------------------

POPULARITY: dict[str, list[Row]] = {
    "t": [("h", 50, 4.0), ("a", 150, 2.0), ("p", 300, 5.0)],
    "u1": [("a", 100, 4.0), ("b", 250, 3.0), ("p", 299, 4.0), ("c", 300, 2.0)],
    "u2": [("a", 200, 3.0), ("a", 220, 5.0), ("c", 301, 5.0), ("d", 400, 1.0)],
    "u3": [("a", 300, 3.0), ("b", 999, 4.0)],
}


def popularity_target() -> Target:
    return make_target("t", "p", ["b", "p", "c", "a", "d", "z"], [("h", 50, 4.0), ("a", 150, 2.0)], 300)


def test_popularity_scores_are_interaction_counts_before_the_cutoff() -> None:
    ranker = PopularityRanker()
    ranker.fit(FitData(make_dataset(POPULARITY), {}, []))
    (scores,) = ranker.score([popularity_target()])
    # Before ts 300: b by u1 (250); p by u1 (299); c never (300 and 301 are not before);
    # a by u1, u2 twice and t (100, 150, 200, 220; u3's 300 is not); d and unknown z never.
    np.testing.assert_array_equal(scores, [1.0, 1.0, 0.0, 4.0, 0.0, 0.0])
    assert scores.dtype == np.float64


def test_popularity_needs_fit() -> None:
    with pytest.raises(RuntimeError, match="before fit"):
        PopularityRanker().score([popularity_target()])


# -- item-kNN ---------------------------------------------------------------------------------

KNN: dict[str, list[Row]] = {
    "t": [("h1", 100, 4.0), ("h2", 200, 4.0)],
    "u1": [("h1", 10, 4.0), ("p", 20, 4.0)],
    "u2": [("h1", 30, 4.0), ("h2", 40, 4.0), ("p", 50, 4.0)],
    "u3": [("h2", 60, 4.0), ("n1", 70, 4.0)],
    "u4": [("n1", 80, 4.0)],
    "u5": [("p", 2000, 4.0), ("h1", 2001, 4.0), ("n2", 2002, 4.0), ("h2", 2003, 4.0)],  # after the cutoff
}


def knn_target() -> Target:
    return make_target("t", "p", ["n1", "p", "n2"], [("h1", 100, 4.0), ("h2", 200, 4.0)], cutoff_ts=1000)


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        # U_h1 = {t, u1, u2}, U_h2 = {t, u2, u3}, U_p = {u1, u2}, U_n1 = {u3, u4}, U_n2 = {}.
        # sim(p, h1) = 2/sqrt(6), sim(p, h2) = 1/sqrt(6), sim(n1, h2) = 1/sqrt(6).
        (2, [1 / math.sqrt(6), 3 / math.sqrt(6), 0.0]),
        # The newest item only (h2).
        (1, [1 / math.sqrt(6), 1 / math.sqrt(6), 0.0]),
    ],
)
def test_itemknn_cosine_scores_by_hand(window: int, expected: list[float]) -> None:
    ranker = ItemKNNRanker(windows=(window,))
    ranker.fit(FitData(make_dataset(KNN), {}, []))
    (scores,) = ranker.score([knn_target()])
    np.testing.assert_allclose(scores, expected, rtol=1e-6)
    assert ranker.info()["window"] == window


def test_itemknn_without_validation_keeps_the_largest_window() -> None:
    ranker = ItemKNNRanker(windows=(20, 1, 5))
    ranker.fit(FitData(make_dataset(KNN), {}, []))
    assert ranker.window == 20
    assert ranker.info()["window_grid"] == [1, 5, 20]
    assert ranker.info()["validation_ndcg@10"] == {}


def window_dataset(recent_is_informative: bool) -> tuple[Dataset, list[Target]]:
    """Validation targets where only one window ranks the positive first.

    The positive co-occurs with one history item (the newest or the oldest), the negative
    with the other one. Window 1 sees only the newest item, so it ranks first whichever
    candidate co-occurs with it; window 2 sees both, and the stronger link wins. A strong link
    is 3 users with both items (cosine 3/sqrt(12) = 0.87), a weak one 1 user with both plus 3
    with the candidate only (1/sqrt(8) = 0.35). The positive's link is weak when it is to the
    newest item (so window 2 ranks it second) and strong when it is to the oldest (so window 2
    ranks it first, while window 1 sees only the negative's link).
    """
    histories: dict[str, list[Row]] = {}
    targets = []

    def link(prefix: str, item: str, candidate: str, strong: bool) -> None:
        for k in range(3 if strong else 1):
            histories[f"{prefix}{k}"] = [(item, 10, 3.0), (candidate, 20, 3.0)]
        for k in range(0 if strong else 3):
            histories[f"{prefix}solo{k}"] = [(candidate, 30, 3.0)]

    for u in range(3):
        old, recent, p, n = f"old{u}", f"recent{u}", f"p{u}", f"n{u}"
        histories[f"t{u}"] = [(old, 100, 3.0), (recent, 200, 3.0), (p, 500, 5.0)]
        if recent_is_informative:
            link(f"a{u}_", recent, p, strong=False)
            link(f"b{u}_", old, n, strong=True)
        else:
            link(f"a{u}_", old, p, strong=True)
            link(f"b{u}_", recent, n, strong=False)
        history = [(old, 100, 3.0), (recent, 200, 3.0)]
        targets.append(make_target(f"t{u}", p, [n, p], history, cutoff_ts=500, split="validation"))
    return make_dataset(histories), targets


@pytest.mark.parametrize(("recent_is_informative", "best"), [(True, 1), (False, 2)])
def test_itemknn_picks_the_window_by_validation_ndcg(recent_is_informative: bool, best: int) -> None:
    dataset, validation = window_dataset(recent_is_informative)
    ranker = ItemKNNRanker(windows=(2, 1, 50))
    ranker.fit(FitData(dataset, {}, validation))
    info = ranker.info()
    assert ranker.window == info["window"] == best
    assert info["window"] in info["window_grid"]
    ndcg = info["validation_ndcg@10"]
    assert set(ndcg) == {"1", "2", "50"}
    assert ndcg[str(best)] == pytest.approx(1.0)
    assert ndcg[str(3 - best)] == pytest.approx(1 / math.log2(3))
    assert ndcg["50"] == ndcg["2"]  # two history items: every window >= 2 is the same


def test_itemknn_ties_go_to_the_smallest_window() -> None:
    dataset, validation = window_dataset(recent_is_informative=False)
    # Two history items: windows 2, 3 and 10 all see both and tie at NDCG 1.
    ranker = ItemKNNRanker(windows=(10, 3, 2))
    ranker.fit(FitData(dataset, {}, validation))
    assert set(ranker.validation_ndcg.values()) == {1.0}
    assert ranker.window == 2


def test_itemknn_needs_fit_and_valid_windows() -> None:
    with pytest.raises(RuntimeError, match="before fit"):
        ItemKNNRanker().score([knn_target()])
    for windows in [(), (0,), (5, -1)]:
        with pytest.raises(ValueError, match="windows"):
            ItemKNNRanker(windows=windows)


# -- SASRec -----------------------------------------------------------------------------------

TINY = SASRecConfig(max_len=8, hidden=16, blocks=1, max_epochs=3, eval_every=1, batch_size=32)


def chain_dataset(n_users: int = 40, n_items: int = 40, length: int = 10) -> Dataset:
    """Every user watches a stretch of one fixed chain c0 -> c1 -> ... (all liked).

    The validation and test positives are always the next item in the chain.
    """
    rng = np.random.default_rng(0)
    histories: dict[str, list[Row]] = {}
    for u in range(n_users):
        start = int(rng.integers(0, n_items - length + 1))
        histories[f"u{u}"] = [(f"c{start + k}", 1000 + 10 * k, 5.0) for k in range(length)]
    return make_dataset(histories)


@pytest.fixture(scope="module")
def chain() -> tuple[Dataset, list[Target]]:
    dataset = chain_dataset()
    return dataset, build_targets(dataset, SplitConfig(seed=0))


def fit_data(dataset: Dataset, targets: list[Target]) -> FitData:
    return FitData(dataset, FitData.cutoffs_from(targets), [t for t in targets if t.split == "validation"])


@pytest.mark.usefixtures("one_torch_thread")
def test_sasrec_fit_is_deterministic(chain: tuple[Dataset, list[Target]]) -> None:
    dataset, targets = chain
    tests = [t for t in targets if t.split == "test"]
    scores = []
    for seed in (0, 0, 1):
        ranker = SASRecRanker(SASRecConfig(**{**asdict(TINY), "seed": seed}))
        ranker.fit(fit_data(dataset, targets))
        scores.append(ranker.score(tests))
    for a, b, target in zip(scores[0], scores[1], tests, strict=True):
        assert a.shape == (len(target.candidates),)
        assert a.dtype == np.float64
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, c) for a, c in zip(scores[0], scores[2], strict=True))


@pytest.mark.usefixtures("one_torch_thread")
def test_sasrec_info_and_early_stopping(chain: tuple[Dataset, list[Target]]) -> None:
    dataset, targets = chain
    config = SASRecConfig(max_len=8, hidden=16, blocks=1, max_epochs=4, eval_every=1, patience=2)
    ranker = SASRecRanker(config)
    data = fit_data(dataset, targets)
    ranker.fit(data)
    info = ranker.info()
    assert info["hyperparameters"] == asdict(config)
    assert info["train_seconds"] >= 0
    assert info["parameters"] > 0
    assert info["training_windows"] == len(dataset.histories)  # 7 training items < max_len + 1
    trace = info["validation_trace"]
    assert [row["epoch"] for row in trace] == list(range(1, info["epochs_run"] + 1))
    ndcgs = [row["validation_ndcg@10"] for row in trace]
    best = ndcgs.index(max(ndcgs))
    assert info["best_epoch"] == trace[best]["epoch"]
    # At most `patience` checks after the best one, and the best weights are the ones kept.
    assert len(trace) - 1 - best <= config.patience
    assert ranker._validation_ndcg(data.validation) == pytest.approx(max(ndcgs))


@pytest.mark.usefixtures("one_torch_thread")
def test_sasrec_learns_a_sequential_pattern(chain: tuple[Dataset, list[Target]]) -> None:
    dataset, targets = chain
    tests = [t for t in targets if t.split == "test"]
    config = SASRecConfig(
        max_len=8, hidden=32, blocks=1, dropout=0.0, lr=1e-2, max_epochs=30, eval_every=1, patience=30
    )
    ranker = SASRecRanker(config)
    ranker.fit(fit_data(dataset, targets))
    ranks = ranks_of(ranker.score(tests), tests)
    random_ranks = ranks_of(RandomRanker().score(tests), tests)
    # Random's expected rank is 11; the next item in the chain should be near the top.
    assert ranks.mean() < 4 < random_ranks.mean()
    assert (ranks == 1).mean() > 0.5


@pytest.mark.usefixtures("one_torch_thread")
def test_sasrec_scores_unknown_candidates_zero_and_needs_fit(chain: tuple[Dataset, list[Target]]) -> None:
    dataset, targets = chain
    target = make_target("u0", "c3", ["c3", "never-seen"], [("c1", 1, 5.0), ("c2", 2, 5.0)], cutoff_ts=10)
    with pytest.raises(RuntimeError, match="before fit"):
        SASRecRanker(TINY).score([target])
    ranker = SASRecRanker(SASRecConfig(**{**asdict(TINY), "max_epochs": 1}))
    ranker.fit(fit_data(dataset, targets))
    (scores,) = ranker.score([target])
    assert scores[1] == 0.0 and scores[0] != 0.0


def test_sasrec_needs_a_training_sequence() -> None:
    dataset = make_dataset({"u": [("a", 1, 5.0)], "v": [("b", 2, 5.0)]})
    with pytest.raises(ValueError, match="no training sequence"):
        SASRecRanker(TINY).fit(FitData(dataset, {}, []))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hidden": 10, "heads": 3}, "divisible"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"max_len": 0}, "max_len"),
        ({"batch_size": True}, "batch_size"),
        ({"eval_every": 1.5}, "eval_every"),
        ({"lr": 0.0}, "lr"),
        ({"lr": float("nan")}, "lr"),
    ],
)
def test_sasrec_config_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SASRecConfig(**kwargs)  # type: ignore[arg-type]


# -- known bugs -------------------------------------------------------------------------------


def test_itemknn_refit_without_validation_starts_over() -> None:
    dataset, validation = window_dataset(recent_is_informative=True)
    ranker = ItemKNNRanker(windows=(1, 2))
    ranker.fit(FitData(dataset, {}, validation))
    assert ranker.window == 1
    ranker.fit(FitData(dataset, {}, []))
    fresh = ItemKNNRanker(windows=(1, 2))
    fresh.fit(FitData(dataset, {}, []))
    assert ranker.info() == fresh.info()  # window 2, no validation scores


@pytest.mark.usefixtures("one_torch_thread")
def test_sasrec_refit_reports_only_the_last_run(chain: tuple[Dataset, list[Target]]) -> None:
    dataset, targets = chain
    ranker = SASRecRanker(SASRecConfig(**{**asdict(TINY), "max_epochs": 2}))
    ranker.fit(fit_data(dataset, targets))
    first = list(ranker.info()["validation_trace"])
    ranker.fit(fit_data(dataset, targets))
    assert [row["epoch"] for row in ranker.info()["validation_trace"]] == [row["epoch"] for row in first]
