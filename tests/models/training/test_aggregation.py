"""APA aggregation: the exact weighted sum of K adapters, and the per-request weights.

The served model must be ``W + sum_k w_k s_k B_k A_k`` in every adapted layer (APA's ND form),
with the base weights untouched, so excluding a dirty shard (weight 0) removes it exactly.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from models.loading import load_causal_lm
from models.training.aggregation import (
    ValidationIndex,
    WeightRule,
    attach_aggregated,
    set_weights,
    softmax_weights,
)
from models.training.lora import LoraSettings
from tests.models.training.factories import random_adapters

SETTINGS = LoraSettings(dropout=0.0)
WEIGHTS = [0.5, 0.3, 0.2]
INPUT_IDS = torch.tensor([[1, 200, 3000, 45, 999, 12, 7, 8000, 31, 5]])


@pytest.fixture(scope="module")
def adapters(tiny_model_dir: Path) -> list[dict[str, torch.Tensor]]:
    """Three adapters with different seeds and non-zero random B (peft's init has B = 0)."""
    return random_adapters(tiny_model_dir, 3, seed=100)


def logits(model: torch.nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=INPUT_IDS).logits


def merged_reference(base: torch.nn.Module, adapters: list[dict[str, torch.Tensor]], weights: list[float]):  # type: ignore[no-untyped-def]
    """A copy of ``base`` whose adapted Linear weights are ``W + sum_k w_k s_k B_k A_k`` (in float64)."""
    merged = copy.deepcopy(base)
    paths = {n.removesuffix(".lora_A") for n in adapters[0] if n.endswith(".lora_A")}
    with torch.no_grad():
        for path in paths:
            linear = merged.get_submodule(path)
            delta = sum(
                w * SETTINGS.scaling * (a[f"{path}.lora_B"].double() @ a[f"{path}.lora_A"].double())
                for w, a in zip(weights, adapters, strict=True)
            )
            linear.weight.copy_((linear.weight.double() + delta).float())
    return merged


@pytest.mark.parametrize("weights", [WEIGHTS, [0.0, 1.0, 0.0], [0.7, 0.0, 0.3]])
def test_the_aggregate_is_the_weighted_sum_of_the_adapters(
    tiny_model_dir: Path, adapters: list[dict[str, torch.Tensor]], weights: list[float]
) -> None:
    model, _ = load_causal_lm(tiny_model_dir)
    reference = logits(merged_reference(model, adapters, weights))
    base = logits(model)
    layers = attach_aggregated(model, adapters, [SETTINGS.scaling] * 3)
    assert len(layers) == 2 * 4
    set_weights(layers, weights)
    aggregated = logits(model)
    torch.testing.assert_close(aggregated, reference, atol=1e-5, rtol=0)
    assert float((aggregated - base).abs().max()) > 1e-2, "the adapters must change the logits"


def peft_mix(model_dir: Path, adapters: list[dict[str, torch.Tensor]], kind: str) -> torch.Tensor:
    """peft's own ``add_weighted_adapter`` over the same three adapters, in eval mode."""
    from peft import LoraConfig, get_peft_model

    model, _ = load_causal_lm(model_dir)
    config = LoraConfig(
        r=SETTINGS.r,
        lora_alpha=SETTINGS.alpha,
        lora_dropout=0.0,
        target_modules=list(SETTINGS.target_modules),
        bias="none",
    )
    peft_model = get_peft_model(model, config, adapter_name="a0")
    peft_model.add_adapter("a1", config)
    peft_model.add_adapter("a2", config)
    loaded = 0
    with torch.no_grad():
        for name, module in peft_model.named_modules():
            lora_a = getattr(module, "lora_A", None)
            if isinstance(lora_a, torch.nn.ModuleDict) and "a0" in lora_a:
                path = name.removeprefix("base_model.model.")
                for k, adapter in enumerate(adapters):
                    lora_a[f"a{k}"].weight.copy_(adapter[f"{path}.lora_A"])
                    module.lora_B[f"a{k}"].weight.copy_(adapter[f"{path}.lora_B"])
                loaded += 1
    assert loaded == 8
    peft_model.add_weighted_adapter(["a0", "a1", "a2"], WEIGHTS, "mix", combination_type=kind)
    peft_model.set_adapter("mix")
    peft_model.eval()
    return logits(peft_model)


def test_the_aggregate_equals_peft_cat_and_not_peft_linear(
    tiny_model_dir: Path, adapters: list[dict[str, torch.Tensor]]
) -> None:
    model, _ = load_causal_lm(tiny_model_dir)
    set_weights(attach_aggregated(model, adapters, [SETTINGS.scaling] * 3), WEIGHTS)
    aggregated = logits(model)
    torch.testing.assert_close(aggregated, peft_mix(tiny_model_dir, adapters, "cat"), atol=1e-5, rtol=0)
    # peft's "linear" has cross terms B_i A_j: a different model, and the test can tell.
    assert float((aggregated - peft_mix(tiny_model_dir, adapters, "linear")).abs().max()) > 1e-3


def test_zero_weights_give_the_base_model_and_the_base_weights_never_change(
    tiny_model_dir: Path, adapters: list[dict[str, torch.Tensor]]
) -> None:
    model, _ = load_causal_lm(tiny_model_dir)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    base = logits(model)
    layers = attach_aggregated(model, adapters, [SETTINGS.scaling] * 3)
    assert torch.equal(logits(model), base)  # freshly attached: no update until weights are set
    set_weights(layers, WEIGHTS)
    first = logits(model)
    set_weights(layers, [0.0, 0.0, 0.0])
    assert torch.equal(logits(model), base)
    set_weights(layers, WEIGHTS)  # weights are per request: no state carries over
    assert torch.equal(logits(model), first)
    for layer in layers:
        name = next(n for n, m in model.named_modules() if m is layer)
        assert torch.equal(layer.base.weight, before[f"{name}.weight"])
    # Nothing else in the model moved either.
    after = model.state_dict()
    for key, value in before.items():
        replaced = key.replace(".weight", ".base.weight")
        assert torch.equal(after[key] if key in after else after[replaced], value)


def test_attaching_again_replaces_instead_of_stacking(
    tiny_model_dir: Path, adapters: list[dict[str, torch.Tensor]]
) -> None:
    model, _ = load_causal_lm(tiny_model_dir)
    set_weights(attach_aggregated(model, adapters[:2], [SETTINGS.scaling] * 2), [0.5, 0.5])
    layers = attach_aggregated(model, adapters, [SETTINGS.scaling] * 3)
    set_weights(layers, WEIGHTS)
    fresh, _ = load_causal_lm(tiny_model_dir)
    set_weights(attach_aggregated(fresh, adapters, [SETTINGS.scaling] * 3), WEIGHTS)
    assert torch.equal(logits(model), logits(fresh))


def test_a_bad_adapter_set_is_rejected_before_any_layer_is_replaced(
    tiny_model_dir: Path, adapters: list[dict[str, torch.Tensor]]
) -> None:
    model, _ = load_causal_lm(tiny_model_dir)
    with pytest.raises(ValueError, match="no adapters"):
        attach_aggregated(model, [], [])
    missing = {k: v for k, v in adapters[1].items() if ".layers.1.self_attn.o_proj." not in k}
    with pytest.raises(ValueError, match="adapter 1 adapts other modules"):
        attach_aggregated(model, [adapters[0], missing], [2.0, 2.0])
    last = "model.layers.1.self_attn.v_proj"
    wrong = {**adapters[1], f"{last}.lora_B": torch.zeros(32, 8)}  # v_proj has 16 outputs
    with pytest.raises(ValueError, match="does not fit"):
        attach_aggregated(model, [adapters[0], wrong], [2.0, 2.0])
    assert all(
        isinstance(model.get_submodule(p), torch.nn.Linear) for p in (last, "model.layers.0.self_attn.q_proj")
    )


# -- the weights ------------------------------------------------------------------------------


def test_softmax_weights_tau_zero_is_equal_over_the_usable_adapters() -> None:
    errors = np.array([0.1, 0.9, 0.4, 0.2])
    np.testing.assert_array_equal(softmax_weights(errors, 0.0, np.ones(4, dtype=bool)), [0.25] * 4)
    usable = np.array([True, False, True, True])
    weights = softmax_weights(errors, 0.0, usable)
    np.testing.assert_allclose(weights, [1 / 3, 0.0, 1 / 3, 1 / 3])
    assert weights[1] == 0.0


def test_softmax_weights_renormalize_and_prefer_lower_error() -> None:
    errors = np.array([0.1, 0.05, 0.3, 0.2])
    usable = np.array([True, False, True, True])
    for tau in (1.0, 10.0, 1000.0):
        weights = softmax_weights(errors, tau, usable)
        assert weights[1] == 0.0  # excluded exactly, although it has the lowest error
        assert weights.sum() == pytest.approx(1.0, abs=1e-12)
        assert weights[0] > weights[3] > weights[2] >= 0.0
    expected = np.exp(-10.0 * errors[[0, 2, 3]])
    np.testing.assert_allclose(softmax_weights(errors, 10.0, usable)[[0, 2, 3]], expected / expected.sum())
    # A huge tau does not overflow: it becomes the best usable adapter.
    np.testing.assert_allclose(softmax_weights(errors, 1e6, usable), [1.0, 0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="no usable adapter"):
        softmax_weights(errors, 10.0, np.zeros(4, dtype=bool))


def unit(degrees: float) -> np.ndarray:
    return np.array([np.cos(np.radians(degrees)), np.sin(np.radians(degrees))])


def angled_index(angles: list[float], good: list[int], k: int = 3) -> ValidationIndex:
    """One positive row per angle; adapter ``good[i]`` predicts row i perfectly, the others 0.5 / 0.0."""
    n = len(angles)
    predictions = np.full((n, k), 0.0)
    for i, g in enumerate(good):
        predictions[i, g] = 1.0
        predictions[i, (g + 1) % k] = 0.5
    return ValidationIndex(
        sample_ids=tuple(f"s{i}" for i in range(n)),
        user_keys=tuple(f"u{i}" for i in range(n)),
        shards=np.zeros(n, dtype=np.int64),
        vectors=np.stack([unit(a) for a in angles]),
        labels=np.ones(n, dtype=np.int64),
        predictions=predictions,
    )


ALL = np.ones(3, dtype=bool)


def test_index_weights_use_the_n_most_similar_rows() -> None:
    # Rows are stored out of angle order; the nearest to 4 degrees are 0, 12, 30, 60, 90, 180.
    index = angled_index([60, 0, 180, 12, 90, 30], good=[1, 0, 2, 0, 2, 1])
    query = unit(4)
    rule = WeightRule(neighbours=2, tau=1000.0)
    # The two nearest (0 and 12 degrees) are both adapter 0's.
    np.testing.assert_allclose(index.weights(query, rule, ALL), [1.0, 0.0, 0.0], atol=1e-12)
    # With three neighbours the 30 degree row (adapter 1's) joins: the mean error over exactly those rows.
    mean_error = index.errors[[1, 3, 5]].mean(axis=0)
    np.testing.assert_allclose(
        index.weights(query, WeightRule(3, 10.0), ALL), softmax_weights(mean_error, 10.0, ALL), rtol=1e-12
    )
    # Scale does not matter (cosine ranking) and tau 0 is equal weights.
    np.testing.assert_allclose(index.weights(5 * query, rule, ALL), index.weights(query, rule, ALL))
    np.testing.assert_allclose(index.weights(query, WeightRule(2, 0.0), ALL), [1 / 3] * 3)


def test_index_weights_respect_exclude_and_usable() -> None:
    index = angled_index([60, 0, 180, 12, 90, 30], good=[1, 0, 2, 0, 2, 1])
    query = unit(4)
    rule = WeightRule(neighbours=2, tau=1000.0)
    # Without the 0 and 12 degree rows, the nearest are 30 and 60 degrees: adapter 1's.
    exclude = np.array([False, True, False, True, False, False])
    np.testing.assert_allclose(index.weights(query, rule, ALL, exclude=exclude), [0.0, 1.0, 0.0], atol=1e-12)
    usable = np.array([False, True, True])
    weights = index.weights(query, rule, usable)
    assert weights[0] == 0.0 and weights.sum() == pytest.approx(1.0)
    # Nothing to look at (all excluded, or an unknown context): equal over the usable adapters.
    np.testing.assert_allclose(
        index.weights(query, rule, usable, exclude=np.ones(6, dtype=bool)), [0, 0.5, 0.5]
    )
    np.testing.assert_allclose(index.weights(np.zeros(2), rule, usable), [0, 0.5, 0.5])


def test_index_weights_are_deterministic_under_ties() -> None:
    """Equal similarities are broken by row order: the first of the tied rows is the neighbour."""
    index = angled_index([10, 10, 10, 80], good=[2, 0, 1, 1])
    rule = WeightRule(neighbours=1, tau=1000.0)
    first = index.weights(unit(10), rule, ALL)
    np.testing.assert_allclose(first, [0.0, 0.0, 1.0], atol=1e-12)
    for _ in range(5):
        assert index.weights(unit(10), rule, ALL).tobytes() == first.tobytes()
    exclude = np.array([True, False, False, False])
    np.testing.assert_allclose(index.weights(unit(10), rule, ALL, exclude=exclude), [1.0, 0, 0], atol=1e-12)


def test_validation_index_and_weight_rule_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="one row per sample"):
        ValidationIndex(
            sample_ids=("a", "b"),
            user_keys=("u",),
            shards=np.zeros(2, dtype=np.int64),
            vectors=np.zeros((2, 2)),
            labels=np.zeros(2, dtype=np.int64),
            predictions=np.zeros((2, 3)),
        )
    for kwargs, field in [
        ({"neighbours": 0}, "neighbours"),
        ({"tau": -1.0}, "tau"),
        ({"tau": float("inf")}, "tau"),
    ]:
        with pytest.raises(ValueError, match=field):
            WeightRule(**kwargs)  # type: ignore[arg-type]
