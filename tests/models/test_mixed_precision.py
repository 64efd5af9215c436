"""``mixed`` precision: bf16 projection weights, fp32 everything else, adapters still attach."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from models.loading import load_causal_lm
from models.mixed_precision import MixedLinear, to_mixed
from models.scoring import Scorer
from models.training.aggregation import attach_aggregated, set_weights


def test_a_mixed_linear_keeps_fp32_activations_and_rounds_only_the_multiply() -> None:
    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 32)
    mixed = MixedLinear.from_linear(linear)
    assert isinstance(mixed, torch.nn.Linear) and mixed.weight.dtype == torch.bfloat16
    x = torch.randn(5, 64)
    out = mixed(x)
    assert out.dtype == torch.float32
    expected = linear(x)
    assert not torch.equal(out, expected)  # it does round
    torch.testing.assert_close(out, expected, rtol=0.05, atol=0.05)
    assert not any(p.requires_grad for p in mixed.parameters())


def test_to_mixed_replaces_every_projection_but_the_output_head(tiny_model_dir: Path) -> None:
    model, _ = load_causal_lm(tiny_model_dir, precision="float32")
    plain = [name for name, m in model.named_modules() if type(m) is torch.nn.Linear and name != "lm_head"]
    assert to_mixed(model) == len(plain) > 0
    assert type(model.get_output_embeddings()) is torch.nn.Linear
    assert all(isinstance(model.get_submodule(name), MixedLinear) for name in plain)
    assert model.get_input_embeddings().weight.dtype == torch.float32


def test_mixed_scores_stay_close_to_fp32_and_keep_the_ranking(tiny_model_dir: Path) -> None:
    fp32 = Scorer.from_pretrained(tiny_model_dir, precision="float32")
    mixed = Scorer.from_pretrained(tiny_model_dir, precision="mixed")
    context = "### Input:\nRecent interactions: Heat, Casino, Babe, GoldenEye\n"
    candidates = [f"Target item: movie number {i}\n\n### Response:\n" for i in range(12)]
    a, b = fp32.score(context, candidates), mixed.score(context, candidates)
    assert np.max(np.abs(a - b)) < 0.02
    assert not np.array_equal(a, b)  # the mixed path really ran


def test_adapters_attach_to_mixed_layers_and_add_in_fp32(tiny_model_dir: Path) -> None:
    model, _ = load_causal_lm(tiny_model_dir, precision="mixed")
    q = model.get_submodule("model.layers.0.self_attn.q_proj")
    assert isinstance(q, MixedLinear)
    torch.manual_seed(1)
    adapter = {
        "model.layers.0.self_attn.q_proj.lora_A": torch.randn(2, q.in_features),
        "model.layers.0.self_attn.q_proj.lora_B": torch.randn(q.out_features, 2),
    }
    (layer,) = attach_aggregated(model, [adapter], [1.0])
    assert layer.a.dtype == torch.float32 and layer.b_cat.dtype == torch.float32
    x = torch.randn(3, q.in_features)
    base = layer(x)
    set_weights([layer], [1.0])
    delta = layer(x) - base
    expected = (
        x
        @ adapter["model.layers.0.self_attn.q_proj.lora_A"].T
        @ adapter["model.layers.0.self_attn.q_proj.lora_B"].T
    )
    torch.testing.assert_close(delta, expected, rtol=1e-4, atol=1e-4)
