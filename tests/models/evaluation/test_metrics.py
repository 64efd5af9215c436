"""Ranking metrics: pessimistic ties, hand-computed values, bootstrap intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.evaluation.metrics import (
    METRIC_NAMES,
    BootstrapConfig,
    MetricValue,
    metric_table,
    paired_difference,
    positive_rank,
    summarize,
)


def metrics_of(rank: int) -> dict[str, float]:
    return {name: float(values[0]) for name, values in metric_table([rank]).items()}


def test_metric_names_are_the_protocol_metrics() -> None:
    assert METRIC_NAMES == ("recall@3", "recall@5", "recall@10", "mrr@3", "mrr@5", "mrr@10", "ndcg@10")
    assert tuple(metric_table([1, 2])) == METRIC_NAMES


def test_positive_strictly_best_has_rank_one_and_perfect_metrics() -> None:
    scores = [0.1, 0.9, 0.3, 0.899, -5.0]
    assert positive_rank(scores, 1) == 1
    assert metrics_of(1) == dict.fromkeys(METRIC_NAMES, 1.0)


def test_positive_at_rank_four() -> None:
    # Three other candidates (0.9, 0.8, 0.7) score above the positive (0.5).
    scores = np.array([0.9, 0.1, 0.5, 0.8, 0.7, 0.2, 0.0])
    assert positive_rank(scores, 2) == 4
    values = metrics_of(4)
    assert values["recall@3"] == 0.0
    assert values["recall@5"] == 1.0
    assert values["recall@10"] == 1.0
    assert values["mrr@3"] == 0.0
    assert values["mrr@5"] == pytest.approx(0.25)
    assert values["mrr@10"] == pytest.approx(0.25)
    assert values["ndcg@10"] == pytest.approx(1 / math.log2(5))


def test_positive_outside_top_ten_scores_zero_everywhere() -> None:
    # 11 others strictly above the positive -> rank 12.
    scores = [float(k) for k in range(21)]
    positive = 9  # others 10..20 are higher
    assert positive_rank(scores, positive) == 12
    assert metrics_of(12) == dict.fromkeys(METRIC_NAMES, 0.0)


def test_rank_ten_is_still_inside_the_cutoff() -> None:
    values = metrics_of(10)
    assert values["recall@10"] == 1.0
    assert values["mrr@10"] == pytest.approx(0.1)
    assert values["ndcg@10"] == pytest.approx(1 / math.log2(11))
    assert values["recall@5"] == 0.0 and values["mrr@5"] == 0.0


def test_ties_count_against_the_positive() -> None:
    # The positive (index 0) is tied with two others at the top: pessimistic rank 3.
    scores = [1.0, 1.0, 0.2, 1.0, 0.0]
    assert positive_rank(scores, 0) == 3
    values = metrics_of(3)
    assert values["recall@3"] == 1.0
    assert values["mrr@3"] == pytest.approx(1 / 3)
    assert values["ndcg@10"] == pytest.approx(0.5)


@pytest.mark.parametrize("positive_index", [0, 7, 20])
def test_constant_scorer_ranks_the_positive_last(positive_index: int) -> None:
    rank = positive_rank(np.full(21, 0.5), positive_index)
    assert rank == 21
    assert metrics_of(rank) == dict.fromkeys(METRIC_NAMES, 0.0)


def test_nan_scores_are_rejected() -> None:
    with pytest.raises(ValueError, match="NaN"):
        positive_rank([0.1, float("nan"), 0.3], 0)
    with pytest.raises(ValueError, match="NaN"):
        positive_rank([float("nan"), 0.2], 0)


@pytest.mark.parametrize("positive_index", [-1, 3, 100])
def test_positive_index_outside_scores_is_rejected(positive_index: int) -> None:
    with pytest.raises(ValueError, match="positive_index"):
        positive_rank([0.1, 0.2, 0.3], positive_index)


def test_two_dimensional_scores_are_rejected() -> None:
    with pytest.raises(ValueError, match="positive_index"):
        positive_rank(np.zeros((3, 3)), 0)


def test_summarize_means_are_hand_computed_averages() -> None:
    ranks = [1, 2, 4, 12]
    summary = summarize(ranks, BootstrapConfig(resamples=200))
    assert set(summary) == set(METRIC_NAMES)
    expected = {
        "recall@3": 2 / 4,
        "recall@5": 3 / 4,
        "recall@10": 3 / 4,
        "mrr@3": (1 + 1 / 2) / 4,
        "mrr@5": (1 + 1 / 2 + 1 / 4) / 4,
        "mrr@10": (1 + 1 / 2 + 1 / 4) / 4,
        "ndcg@10": (1 + 1 / math.log2(3) + 1 / math.log2(5)) / 4,
    }
    for name, value in expected.items():
        assert summary[name].value == pytest.approx(value), name


def test_summarize_intervals_contain_the_value() -> None:
    rng = np.random.default_rng(3)
    ranks = rng.integers(1, 22, size=60).tolist()
    for name, metric in summarize(ranks, BootstrapConfig(resamples=300)).items():
        low, high = metric.ci95
        assert low <= metric.value <= high, name
        assert low < high, name  # varied ranks: a real interval


def test_summarize_interval_contains_the_value_even_with_few_resamples() -> None:
    # One resample: the percentile "interval" is a single resampled mean, usually not the mean.
    ranks = [1, 2, 4, 12, 21, 3, 7, 1]
    for seed in range(5):
        for name, metric in summarize(ranks, BootstrapConfig(resamples=1, seed=seed)).items():
            assert metric.ci95[0] <= metric.value <= metric.ci95[1], (seed, name)


def test_summarize_interval_has_a_plausible_width() -> None:
    # 100 targets, half of them hits: the 95% interval of a proportion of 0.5 is about +-0.1.
    ranks = [1] * 50 + [21] * 50
    low, high = summarize(ranks, BootstrapConfig(resamples=1000))["recall@10"].ci95
    assert 0.35 < low < 0.45
    assert 0.55 < high < 0.65


def test_higher_confidence_gives_a_wider_interval() -> None:
    ranks = [1, 3, 5, 8, 12, 21, 2, 2, 7, 15] * 3
    narrow = summarize(ranks, BootstrapConfig(resamples=500, confidence=0.5))["mrr@10"].ci95
    wide = summarize(ranks, BootstrapConfig(resamples=500, confidence=0.99))["mrr@10"].ci95
    assert wide[1] - wide[0] > narrow[1] - narrow[0]


def test_identical_ranks_give_a_zero_width_interval() -> None:
    summary = summarize([4, 4, 4, 4, 4], BootstrapConfig(resamples=100))
    for name, metric in summary.items():
        assert metric.ci95 == (metric.value, metric.value), name
    assert summary["mrr@5"].value == pytest.approx(0.25)


def test_same_seed_gives_identical_intervals() -> None:
    ranks = [1, 2, 2, 5, 9, 11, 21, 3, 4, 1, 6, 14]
    first = summarize(ranks, BootstrapConfig(resamples=200, seed=7))
    second = summarize(list(ranks), BootstrapConfig(resamples=200, seed=7))
    assert first == second


def test_a_different_seed_can_give_a_different_interval() -> None:
    ranks = [1, 2, 2, 5, 9, 11, 21, 3, 4, 1, 6, 14]
    base = summarize(ranks, BootstrapConfig(resamples=200, seed=0))
    others = [summarize(ranks, BootstrapConfig(resamples=200, seed=s)) for s in (1, 2, 3)]
    assert any(o["mrr@10"].ci95 != base["mrr@10"].ci95 for o in others)
    # The point estimate does not depend on the bootstrap seed.
    assert all(o["mrr@10"].value == base["mrr@10"].value for o in others)


def test_summarize_accepts_numpy_ranks() -> None:
    from_list = summarize([1, 5, 12], BootstrapConfig(resamples=50))
    from_array = summarize(np.array([1, 5, 12]), BootstrapConfig(resamples=50))
    assert from_list == from_array


def test_summarize_rejects_empty_input() -> None:
    with pytest.raises(ValueError, match="at least one rank"):
        summarize([])
    with pytest.raises(ValueError, match="at least one rank"):
        summarize(np.array([], dtype=int))


def test_metric_value_as_dict() -> None:
    assert MetricValue(0.5, (0.25, 0.75)).as_dict() == {"value": 0.5, "ci95": [0.25, 0.75]}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"resamples": 0}, "resamples"),
        ({"resamples": -5}, "resamples"),
        ({"resamples": True}, "resamples"),
        ({"resamples": 10.0}, "resamples"),
        ({"confidence": 1.0}, "confidence"),
        ({"confidence": 0.0}, "confidence"),
        ({"confidence": 1.5}, "confidence"),
    ],
)
def test_bootstrap_config_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BootstrapConfig(**kwargs)  # type: ignore[arg-type]


def test_bootstrap_config_defaults_are_valid() -> None:
    config = BootstrapConfig()
    assert config.resamples == 1000 and config.confidence == 0.95


def test_paired_difference_is_the_mean_gap_with_a_paired_interval() -> None:
    better, worse = [1, 1, 2, 1, 3, 1], [4, 12, 2, 6, 3, 15]
    diff = paired_difference(better, worse, "recall@3", BootstrapConfig(resamples=500, seed=1))
    # recall@3: better hits 6/6, worse hits 2/6 (the two ranks <= 3).
    assert diff.value == pytest.approx(4 / 6)
    assert 0 < diff.ci95[0] <= diff.value <= diff.ci95[1]
    same = paired_difference(worse, worse, "ndcg@10", BootstrapConfig(resamples=200))
    assert same.value == 0 and same.ci95 == (0.0, 0.0)
    with pytest.raises(ValueError, match="equal"):
        paired_difference([1, 2], [1], "mrr@3")
    with pytest.raises(ValueError, match="metric"):
        paired_difference([1], [1], "auc")
