"""Per-row adapter weights: a batch that mixes users must give each row its own user's model.

The reference is always the global path (``set_weights`` with one user's weights, that user's
rows alone), which ``test_aggregation`` checks against a merged model and against peft.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models.loading import load_causal_lm
from models.scoring import Scorer, ScorerConfig
from models.training.aggregation import (
    AggregatedLoRALinear,
    ValidationIndex,
    WeightRule,
    attach_aggregated,
    set_row_weights,
    set_weights,
)
from models.training.apa_scorer import AdapterRequest, AggregatedScorer
from models.training.lora import LoraSettings
from tests.models.training.factories import make_catalog, random_adapters, unit_vectors

SETTINGS = LoraSettings(dropout=0.0)
SCALINGS = [SETTINGS.scaling] * 3
# Row 2 has all-zero weights: the base model.
ROW_WEIGHTS = np.array([[0.5, 0.3, 0.2], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.1, 0.1, 0.8]])
INPUT_IDS = torch.tensor(
    [
        [1, 200, 3000, 45, 999, 12, 7, 8000],
        [5, 6, 7, 8, 9, 10, 11, 12],
        [400, 41, 42, 4300, 44, 45, 46, 47],
        [9000, 1, 1, 2, 3, 5, 8, 13],
    ]
)
RTOL, ATOL = 1e-4, 1e-5


@pytest.fixture(scope="module")
def adapters(tiny_model_dir: Path) -> list[dict[str, torch.Tensor]]:
    """Three adapters with different seeds and non-zero random B (peft's init has B = 0)."""
    return random_adapters(tiny_model_dir, 3, seed=200)


@pytest.fixture
def aggregated(
    tiny_model_dir: Path, adapters: list[dict[str, torch.Tensor]]
) -> tuple[torch.nn.Module, list[AggregatedLoRALinear]]:
    model, _ = load_causal_lm(tiny_model_dir)
    return model, attach_aggregated(model, adapters, SCALINGS)


def logits(model: torch.nn.Module, input_ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=input_ids).logits


def test_each_row_gets_its_own_weights(
    aggregated: tuple[torch.nn.Module, list[AggregatedLoRALinear]],
) -> None:
    model, layers = aggregated
    set_row_weights(layers, ROW_WEIGHTS)
    mixed = logits(model, INPUT_IDS)
    for row, weights in enumerate(ROW_WEIGHTS):
        set_weights(layers, weights)
        torch.testing.assert_close(
            mixed[row], logits(model, INPUT_IDS[row : row + 1])[0], rtol=RTOL, atol=ATOL
        )
    # The rows really differ: the same input under two weightings is two models.
    set_row_weights(layers, ROW_WEIGHTS[[0, 1]])
    same_input = logits(model, INPUT_IDS[[0, 0]])
    assert float((same_input[0] - same_input[1]).abs().max()) > 1e-2


def test_an_all_zero_row_is_exactly_the_base_model(
    aggregated: tuple[torch.nn.Module, list[AggregatedLoRALinear]],
) -> None:
    model, layers = aggregated
    set_weights(layers, [0.0, 0.0, 0.0])
    base = logits(model, INPUT_IDS)
    set_row_weights(layers, ROW_WEIGHTS)
    mixed = logits(model, INPUT_IDS)
    assert torch.equal(mixed[2], base[2])
    assert float((mixed[0] - base[0]).abs().max()) > 1e-2, "the adapters must change the other rows"
    # Layer by layer too: W x exactly, whatever the other rows hold.
    layer = layers[0]
    x = torch.randn(4, 5, layer.base.in_features)
    with torch.no_grad():
        assert torch.equal(layer(x)[2], layer.base(x)[2])
    # All rows zero: the update is skipped altogether.
    set_row_weights(layers, np.zeros((4, 3)))
    assert torch.equal(logits(model, INPUT_IDS), base)


def test_set_weights_leaves_row_mode(
    tiny_model_dir: Path,
    adapters: list[dict[str, torch.Tensor]],
    aggregated: tuple[torch.nn.Module, list[AggregatedLoRALinear]],
) -> None:
    model, layers = aggregated
    set_row_weights(layers, ROW_WEIGHTS)
    logits(model, INPUT_IDS)
    set_weights(layers, ROW_WEIGHTS[0])
    assert all(layer.row_factors is None for layer in layers)
    # Bytes equal to a model that never saw row mode, and any batch size works again.
    fresh, _ = load_causal_lm(tiny_model_dir)
    set_weights(attach_aggregated(fresh, adapters, SCALINGS), ROW_WEIGHTS[0])
    assert torch.equal(logits(model, INPUT_IDS[:1]), logits(fresh, INPUT_IDS[:1]))


def test_row_weights_reject_bad_shapes_and_stale_row_counts(
    aggregated: tuple[torch.nn.Module, list[AggregatedLoRALinear]],
) -> None:
    model, layers = aggregated
    for bad in (np.ones(3), np.ones((2, 4)), np.ones((0, 3))):
        with pytest.raises(ValueError, match=r"expected \[rows, 3\] weights"):
            set_row_weights(layers, bad)
    set_row_weights(layers, ROW_WEIGHTS)
    with pytest.raises(ValueError, match="row weights are set for 4 rows"):
        logits(model, INPUT_IDS[:2])


# -- the aggregated scorer --------------------------------------------------------------------

CATALOG = sorted(make_catalog(12))


def validation_index(dim: int, samples: int = 30, seed: int = 3) -> ValidationIndex:
    """Random contexts and predictions, so different users get clearly different weights."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(samples, dim))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return ValidationIndex(
        sample_ids=tuple(f"s{i}" for i in range(samples)),
        user_keys=tuple(f"u{i}" for i in range(samples)),
        shards=rng.integers(0, 3, size=samples),
        vectors=vectors,
        labels=rng.integers(0, 2, size=samples),
        predictions=rng.uniform(size=(samples, 3)),
    )


@pytest.fixture
def apa(tiny_model_dir: Path, adapters: list[dict[str, torch.Tensor]]) -> AggregatedScorer:
    model, tokenizer = load_causal_lm(tiny_model_dir)
    dim = int(model.config.hidden_size)
    # Two rows per candidate pass: the batches below mix users.
    scorer = Scorer(model, tokenizer, ScorerConfig(candidate_batch_size=2))
    return AggregatedScorer(
        scorer,
        adapters,
        SCALINGS,
        validation_index(dim),
        WeightRule(neighbours=3, tau=10.0),
        unit_vectors(CATALOG, dim),
    )


def apa_requests() -> list[AdapterRequest]:
    return [
        AdapterRequest(
            "A long user history: " + ", ".join(f"movie {i}" for i in range(40)),
            ("Yes", "Target item: a long candidate description", "x"),
            tuple(CATALOG[:4]),
        ),
        AdapterRequest("Hi", ("No",), tuple(CATALOG[5:7])),
        AdapterRequest("A short history: one, two", ("z", "Yes", "maybe not"), ()),  # no items: equal weights
        AdapterRequest("Another history of some length", ("ok", "Target item"), tuple(CATALOG[9:])),
    ]


@pytest.mark.parametrize("excluded", [(), (1,), (0, 1, 2)])
def test_score_many_equals_score_per_user(apa: AggregatedScorer, excluded: tuple[int, ...]) -> None:
    requests = apa_requests()
    results = apa.score_many(requests, excluded)
    assert len(results) == len(requests)
    # Left for plain scoring: not in row mode, all-zero weights.
    assert all(layer.row_factors is None and not layer.active for layer in apa.layers)
    singles = [apa.score(r.context, list(r.candidates), list(r.context_items), excluded) for r in requests]
    for result, single in zip(results, singles, strict=True):
        np.testing.assert_array_equal(result.weights, single.weights)
        np.testing.assert_allclose(result.probabilities, single.probabilities, rtol=RTOL, atol=ATOL)
    weights = np.stack([r.weights for r in results])
    if len(excluded) == 3:
        assert not weights.any(), "every shard excluded: the base model"
    else:
        assert not np.allclose(weights[0], weights[1]), "the users must get different weights"
        assert not weights[:, list(excluded)].any()


def test_score_many_all_excluded_is_the_base_model(tiny_model_dir: Path, apa: AggregatedScorer) -> None:
    base = Scorer.from_pretrained(tiny_model_dir)
    requests = apa_requests()
    for request, result in zip(requests, apa.score_many(requests, (0, 1, 2)), strict=True):
        np.testing.assert_allclose(
            result.probabilities, base.score(request.context, list(request.candidates)), rtol=RTOL, atol=ATOL
        )


def test_score_many_of_nothing(apa: AggregatedScorer) -> None:
    assert apa.score_many([]) == []
