"""One shard's LoRA training: shared-prefix gradients, bit-identical retraining, file round trip.

Exact unlearning rests on two of these: the fast shared-prefix forward must train the same
model as the plain one (so it is not a different recipe), and the same data must give the same
bytes (so a retrain from scratch reproduces the served adapter and an audit can check it).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from models.loading import load_causal_lm
from models.scoring import Scorer
from models.training.lora import (
    LoraSettings,
    TrainedAdapter,
    attach_lora,
    auc,
    group_logits,
    group_logits_naive,
    load_adapter_file,
    lora_tensors,
    save_adapter_file,
    train_adapter,
)
from models.training.samples import SampleGroup

from .factories import training_groups

TOLERANCE = 1e-4
TINY = LoraSettings(max_epochs=2, groups_per_step=4, learning_rate=1e-2)  # dropout 0.05 as in production


@pytest.fixture(scope="module")
def groups() -> list[SampleGroup]:
    found = training_groups()
    assert 20 <= len(found) <= 80
    assert {len(g.samples) for g in found} == {1, 4}  # lone dislikes and positives with 3 negatives
    return found


def split(groups: list[SampleGroup]) -> tuple[list[SampleGroup], list[SampleGroup]]:
    return [g for g in groups if g.split == "train"], [g for g in groups if g.split == "validation"]


def randomize_b(peft_model: torch.nn.Module, seed: int, scale: float = 0.1) -> None:
    """Small non-zero B matrices: with peft's zero init, A would get no gradient at all."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * scale)


def loss_and_grads(
    forward: Callable[[Scorer, list[int], list[list[int]]], torch.Tensor],
    scorer: Scorer,
    peft_model: torch.nn.Module,
    group: SampleGroup,
) -> tuple[torch.Tensor, float, dict[str, torch.Tensor]]:
    parameters = {n: p for n, p in peft_model.named_parameters() if p.requires_grad}
    for p in parameters.values():
        p.grad = None
    context_ids, candidate_ids = scorer.tokenize(group.context, [s.candidate for s in group.samples])
    logits = forward(scorer, context_ids, candidate_ids)
    labels = torch.tensor([float(s.label) for s in group.samples])
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="sum")
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in parameters.items() if p.grad is not None}
    assert set(grads) == set(parameters), "every LoRA parameter must get a gradient"
    return logits.detach(), float(loss.detach()), grads


def test_shared_prefix_loss_and_gradients_equal_the_full_prompt_reference(
    tiny_model_dir: Path, groups: list[SampleGroup]
) -> None:
    model, tokenizer = load_causal_lm(tiny_model_dir)
    peft_model = attach_lora(model, LoraSettings(dropout=0.0))
    randomize_b(peft_model, seed=0)
    scorer = Scorer(peft_model.get_base_model(), tokenizer)
    peft_model.train()
    several = [g for g in groups if len(g.samples) > 1][:4] + [next(g for g in groups if len(g.samples) == 1)]
    lengths = set()
    for group in several:
        _, candidate_ids = scorer.tokenize(group.context, [s.candidate for s in group.samples])
        lengths |= {len(c) for c in candidate_ids}
        fast_logits, fast_loss, fast = loss_and_grads(group_logits, scorer, peft_model, group)
        ref_logits, ref_loss, ref = loss_and_grads(group_logits_naive, scorer, peft_model, group)
        torch.testing.assert_close(fast_logits, ref_logits, atol=TOLERANCE, rtol=0)
        assert fast_loss == pytest.approx(ref_loss, abs=TOLERANCE)
        for name in ref:
            torch.testing.assert_close(fast[name], ref[name], atol=TOLERANCE, rtol=0, msg=name)
        # Not a comparison of zeros: the A matrices (context side included) get real gradients.
        assert max(float(g.abs().max()) for n, g in ref.items() if "lora_A" in n) > 1e-2
    assert len(lengths) > 1, "candidates of different token lengths exercise the right padding"


def test_the_training_logit_is_the_serving_probability(
    tiny_model_dir: Path, groups: list[SampleGroup]
) -> None:
    """sigmoid(group_logits) is what the scorer serves: training and serving mean one probability."""
    model, tokenizer = load_causal_lm(tiny_model_dir)
    peft_model = attach_lora(model, LoraSettings(dropout=0.0))
    randomize_b(peft_model, seed=1)
    scorer = Scorer(peft_model.get_base_model(), tokenizer)
    group = next(g for g in groups if len(g.samples) > 1)
    candidates = [s.candidate for s in group.samples]
    with torch.no_grad():
        logits = group_logits(scorer, *scorer.tokenize(group.context, candidates))
    np.testing.assert_allclose(
        torch.sigmoid(logits).numpy(), scorer.score(group.context, candidates), atol=1e-5
    )


def train(model_dir: Path, groups: list[SampleGroup], settings: LoraSettings) -> TrainedAdapter:
    model, tokenizer = load_causal_lm(model_dir)
    train_groups, validation = split(groups)
    return train_adapter(model, tokenizer, train_groups, validation, settings)


def file_digest(tensors: dict[str, torch.Tensor], path: Path) -> str:
    save_adapter_file(tensors, path, {"shard": "0", "seed": "x"})
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.usefixtures("restore_torch_globals")
def test_training_is_bit_identical_and_ignores_the_group_order(
    tiny_model_dir: Path, groups: list[SampleGroup], tmp_path: Path
) -> None:
    first = train(tiny_model_dir, groups, TINY)
    # Training did something: B left its zero init.
    assert any(float(t.abs().max()) > 0 for n, t in first.tensors.items() if n.endswith("lora_B"))
    assert all(math.isfinite(x) for x in first.losses)
    again = train(tiny_model_dir, groups, TINY)
    shuffled = list(groups)
    np.random.default_rng(3).shuffle(shuffled)  # type: ignore[arg-type]
    reordered = train(tiny_model_dir, shuffled, TINY)
    digest = file_digest(first.tensors, tmp_path / "first.safetensors")
    assert file_digest(again.tensors, tmp_path / "again.safetensors") == digest
    assert file_digest(reordered.tensors, tmp_path / "reordered.safetensors") == digest
    assert again.losses == first.losses and reordered.losses == first.losses
    other = train(tiny_model_dir, groups, replace(TINY, seed=1))
    assert file_digest(other.tensors, tmp_path / "other.safetensors") != digest


@pytest.mark.usefixtures("restore_torch_globals")
def test_training_leaves_the_callers_torch_settings_and_rng_alone(
    tiny_model_dir: Path, groups: list[SampleGroup]
) -> None:
    """A worker or notebook that trains a shard keeps its own threads, kernels and random stream."""
    torch.use_deterministic_algorithms(False)
    torch.set_num_threads(1)
    torch.manual_seed(1234)
    expected = torch.rand(3)
    torch.manual_seed(1234)
    train(tiny_model_dir, groups, replace(TINY, max_epochs=1, threads=2))
    assert not torch.are_deterministic_algorithms_enabled()
    assert torch.get_num_threads() == 1
    assert torch.equal(torch.rand(3), expected), "training consumed or reseeded the caller's RNG"


@pytest.mark.usefixtures("restore_torch_globals")
def test_early_stopping_keeps_the_best_validation_epoch(
    tiny_model_dir: Path, groups: list[SampleGroup]
) -> None:
    """Stops at the first epoch that is no better (patience 1) and returns the best epoch's tensors.

    The best epoch's tensors must equal those of a run that simply ends after that epoch.
    """
    long = train(tiny_model_dir, groups, replace(TINY, max_epochs=4, patience=1))
    curve = long.validation_curve
    first_worse = next((e for e in range(1, len(curve)) if curve[e] <= max(curve[:e])), None)
    assert len(curve) == (4 if first_worse is None else first_worse + 1)
    assert long.best_epoch == 1 + int(np.argmax(curve))
    assert long.validation_auc == max(curve)
    assert long.best_epoch < len(curve), "the best epoch must not be the last one, or this proves nothing"
    short = train(tiny_model_dir, groups, replace(TINY, max_epochs=long.best_epoch, patience=1))
    assert short.tensors.keys() == long.tensors.keys()
    assert all(torch.equal(short.tensors[n], long.tensors[n]) for n in long.tensors)


def test_train_adapter_needs_training_groups(tiny_model_dir: Path) -> None:
    model, tokenizer = load_causal_lm(tiny_model_dir)
    with pytest.raises(ValueError, match="no training groups"):
        train_adapter(model, tokenizer, [], [], TINY)


def test_the_adapter_file_round_trips_exactly(tiny_model_dir: Path, tmp_path: Path) -> None:
    model, _ = load_causal_lm(tiny_model_dir)
    peft_model = attach_lora(model, LoraSettings(seed=4))
    randomize_b(peft_model, seed=4)
    tensors = lora_tensors(peft_model)
    # 2 layers x q/k/v/o, each an A [r, in] and a B [out, r].
    assert len(tensors) == 2 * 4 * 2
    assert tensors["model.layers.0.self_attn.k_proj.lora_A"].shape == (8, 32)
    assert tensors["model.layers.0.self_attn.k_proj.lora_B"].shape == (16, 8)
    path = tmp_path / "adapter.safetensors"
    save_adapter_file(tensors, path, {"b": "2", "a": "1"})
    loaded = load_adapter_file(path)
    assert loaded.keys() == tensors.keys()
    for name, tensor in tensors.items():
        assert loaded[name].dtype == tensor.dtype
        assert torch.equal(loaded[name], tensor)
    # Neither the metadata's nor the tensors' insertion order changes a byte.
    other = tmp_path / "other.safetensors"
    save_adapter_file(dict(reversed(list(tensors.items()))), other, {"a": "1", "b": "2"})
    assert other.read_bytes() == path.read_bytes()
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        assert json.loads(handle.metadata()["streamrec"]) == {"a": "1", "b": "2"}


def test_attach_lora_is_seeded_and_leaves_global_rng_alone(tiny_model_dir: Path) -> None:
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = lora_tensors(attach_lora(load_causal_lm(tiny_model_dir)[0], LoraSettings(seed=2)))
    assert torch.equal(torch.rand(1), expected_next)
    b = lora_tensors(attach_lora(load_causal_lm(tiny_model_dir)[0], LoraSettings(seed=2)))
    c = lora_tensors(attach_lora(load_causal_lm(tiny_model_dir)[0], LoraSettings(seed=3)))
    assert all(torch.equal(a[n], b[n]) for n in a)
    assert not all(torch.equal(a[n], c[n]) for n in a if n.endswith("lora_A"))


@pytest.mark.parametrize(
    ("labels", "scores", "expected"),
    [
        pytest.param([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1], 1.0, id="perfect"),
        pytest.param([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9], 0.0, id="reversed"),
        pytest.param([1, 0], [0.5, 0.5], 0.5, id="tie"),
        pytest.param([1, 1, 0], [0.7, 0.5, 0.5], 0.75, id="tie-counts-half"),
        pytest.param([0, 1, 0, 1], [0.3, 0.4, 0.5, 0.6], 0.75, id="mixed"),
        pytest.param([1, 1], [0.3, 0.4], None, id="only-positives"),
        pytest.param([0, 0], [0.3, 0.4], None, id="only-negatives"),
        pytest.param([], [], None, id="empty"),
    ],
)
def test_auc_on_hand_made_cases(labels: list[int], scores: list[float], expected: float | None) -> None:
    assert auc(labels, scores) == expected


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("r", 0),
        ("r", True),
        ("alpha", 0),
        ("dropout", 1.0),
        ("dropout", -0.1),
        ("learning_rate", 0.0),
        ("learning_rate", float("nan")),
        ("learning_rate", float("inf")),
        ("groups_per_step", 0),
        ("max_epochs", 0),
        ("patience", 0),
        ("threads", 0),
        ("seed", -1),
        ("target_modules", ()),
    ],
)
def test_lora_settings_reject_bad_values(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"LoraSettings.{field}"):
        LoraSettings(**{field: value})  # type: ignore[arg-type]


def test_lora_settings_scaling_and_manifest() -> None:
    settings = LoraSettings(r=4, alpha=12)
    assert settings.scaling == 3.0
    as_dict = settings.as_dict()
    assert as_dict["target_modules"] == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert json.loads(json.dumps(as_dict)) == as_dict
