"""A few LoRA steps on the real packaged SmolLM2: the recipe runs on the production model.

The tiny random Llama covers the mechanics everywhere else; this test checks what only the
real model can: its Yes/No tokens, q/k/v/o modules and shapes, and that a few steps on two
sample groups lower the loss on them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from models.loading import load_causal_lm
from models.training.lora import LoraSettings, train_adapter
from models.training.samples import SampleConfig, TrainingEvent, UserData, build_user_groups
from models.types import ItemText

TITLES = [
    ("Toy Story (1995)", "Animation"),
    ("Heat (1995)", "Action"),
    ("Casino (1995)", "Crime"),
    ("Babe (1995)", "Children"),
    ("GoldenEye (1995)", "Action"),
    ("Sabrina (1995)", "Romance"),
    ("Balto (1995)", "Animation"),
    ("Nixon (1995)", "Drama"),
    ("Othello (1995)", "Drama"),
    ("Powder (1995)", "Sci-Fi"),
]


def test_a_few_steps_of_smollm2_lower_the_training_loss(smollm2_model_dir: Path) -> None:
    catalog = {str(i): ItemText(str(i), t, (g,)) for i, (t, g) in enumerate(TITLES)}
    events = tuple(
        TrainingEvent(f"e{k}", str(k), "rating", 5.0 if k % 2 else 1.0, 1000 * k, k) for k in range(6)
    )
    user = UserData("key-1", events)
    config = SampleConfig(negatives_per_positive=2, max_targets_per_user=2, validation=False)
    groups = build_user_groups(user, catalog, sorted(catalog), config)
    assert len(groups) == 2
    model, tokenizer = load_causal_lm(smollm2_model_dir)
    settings = replace(LoraSettings(), max_epochs=3, groups_per_step=2, learning_rate=1e-3, patience=3)
    trained = train_adapter(model, tokenizer, groups, [], settings)
    assert len(trained.losses) == 3
    assert all(torch.isfinite(torch.tensor(trained.losses)))
    assert trained.losses[-1] < trained.losses[0]
    # 30 layers x q/k/v/o, each with an A and a B; B moved away from its zero init.
    assert len(trained.tensors) == 30 * 4 * 2
    assert any(float(t.abs().max()) > 0 for name, t in trained.tensors.items() if name.endswith("lora_B"))
