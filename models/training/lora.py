"""Train one shard's LoRA adapter on yes/no sample groups, deterministically, with shared prefixes.

The recipe is TALLRec's and LLM-TRSR's: LoRA r = 8, alpha = 16, dropout 0.05 on q/k/v/o. The
loss is binary cross-entropy on the Yes-minus-No logit at the position where the scorer reads
P(Yes), with the scorer's own Yes/No pooling (``Scorer.answer_logit``), so training and serving
mean the same probability.

**Shared prefixes.** A group's candidates share one context. Its tokens run once with
gradients; the resulting KV cache is expanded (a view, no copy) over the candidates, and only
the candidate tokens run after it. Gradients flow back through the cache into the context's
LoRA weights. On CPU, time is proportional to the token positions run, so a group of 1 + 3
candidates costs about context + 4 x candidate tokens instead of 4 x (context + candidate).

**Determinism.** Same groups, same settings, same machine -> byte-identical adapter file:

1. the LoRA init, every dropout mask and the data order come from generators seeded by
   ``seed`` (and the epoch and step), never from global state left by someone else;
2. ``torch.use_deterministic_algorithms(True)`` and a fixed thread count;
3. groups enter in a fixed order (sorted by their first sample id, then a seeded shuffle per
   epoch), so the caller's list order does not matter;
4. the adapter is written with sorted tensor names (``adapter_file``).

The manifest records the conditions (threads, library versions, device) under which this holds.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from transformers import DynamicCache

from models.scoring import Scorer
from models.training.samples import SampleGroup, seeded_rng

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "LoraSettings",
    "TrainedAdapter",
    "auc",
    "attach_lora",
    "deterministic_torch",
    "group_logits",
    "group_logits_naive",
    "load_adapter_file",
    "load_lora_tensors",
    "lora_tensors",
    "save_adapter_file",
    "train_adapter",
]

TARGET_MODULES: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclass(frozen=True)
class LoraSettings:
    """Hyper-parameters of one shard's training; all of them go into the manifest."""

    r: int = 8  # TALLRec / LLM-TRSR
    alpha: int = 16
    dropout: float = 0.05
    target_modules: tuple[str, ...] = TARGET_MODULES  # LLM-TRSR adapts q, k, v and o
    learning_rate: float = 3e-4  # higher than TALLRec's 1e-4: a 135M model, ~1k samples, few epochs
    weight_decay: float = 0.0
    groups_per_step: int = 8  # ~32 samples per optimizer step with 3 negatives per positive
    max_epochs: int = 4
    patience: int = 2  # epochs without a better validation AUC before stopping
    seed: int = 0
    threads: int = 2  # fixed: results depend on the thread count
    shared_prefix: bool = True  # False runs every sample's whole prompt (the reference)

    def __post_init__(self) -> None:
        for name in ("r", "alpha", "groups_per_step", "max_epochs", "patience", "threads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"LoraSettings.{name} must be a positive integer, got {value!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"LoraSettings.dropout must be in [0, 1), got {self.dropout!r}")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(f"LoraSettings.learning_rate must be positive, got {self.learning_rate!r}")
        if not self.target_modules:
            raise ValueError("LoraSettings.target_modules must not be empty")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"LoraSettings.seed must be an integer >= 0, got {self.seed!r}")

    @property
    def scaling(self) -> float:
        return self.alpha / self.r

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "target_modules": list(self.target_modules)}


@dataclass
class TrainedAdapter:
    """The best epoch's LoRA tensors and how training went."""

    tensors: dict[str, torch.Tensor]  # "<module path>.lora_A" [r, in] / ".lora_B" [out, r]
    settings: LoraSettings
    train_groups: int
    train_samples: int
    validation_auc: float | None
    best_epoch: int
    seconds: float
    samples_per_second: float
    losses: list[float] = field(default_factory=list)  # mean loss per optimizer step
    validation_curve: list[float] = field(default_factory=list)  # AUC after each epoch


def attach_lora(model: PreTrainedModel, settings: LoraSettings) -> Any:
    """Wrap ``model`` with fresh peft LoRA layers (a ``PeftModel``), initialized from the seed alone."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(settings.target_modules),
        bias="none",
    )
    with torch.random.fork_rng():
        torch.manual_seed(settings.seed)
        return get_peft_model(model, config)


def _lora_layers(peft_model: torch.nn.Module) -> Iterator[tuple[str, torch.nn.Linear, torch.nn.Linear]]:
    """(module path, A, B) of every layer peft adapted, for the ``default`` adapter."""
    for name, module in peft_model.named_modules():
        lora_a, lora_b = getattr(module, "lora_A", None), getattr(module, "lora_B", None)
        if (
            isinstance(lora_a, torch.nn.ModuleDict)
            and isinstance(lora_b, torch.nn.ModuleDict)
            and "default" in lora_a
        ):
            a, b = lora_a["default"], lora_b["default"]
            if isinstance(a, torch.nn.Linear) and isinstance(b, torch.nn.Linear):
                yield name.removeprefix("base_model.model."), a, b


def lora_tensors(peft_model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The adapter's A and B matrices keyed ``<module path>.lora_A`` / ``.lora_B``, detached copies."""
    tensors: dict[str, torch.Tensor] = {}
    for path, a, b in _lora_layers(peft_model):
        tensors[f"{path}.lora_A"] = a.weight.detach().clone().contiguous()
        tensors[f"{path}.lora_B"] = b.weight.detach().clone().contiguous()
    return tensors


def load_lora_tensors(peft_model: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Copy saved A and B matrices into a peft model's ``default`` adapter."""
    with torch.no_grad():
        for path, a, b in _lora_layers(peft_model):
            a.weight.copy_(tensors[f"{path}.lora_A"])
            b.weight.copy_(tensors[f"{path}.lora_B"])


def group_logits(scorer: Scorer, context_ids: list[int], candidate_ids: list[list[int]]) -> torch.Tensor:
    """Yes-minus-No logits of a group's candidates, the context run once (differentiable)."""
    body = scorer.model.base_model
    device = scorer.device
    prefix_len = len(context_ids)
    prefix = body(input_ids=torch.tensor([context_ids], device=device), use_cache=True)
    ids, mask, lengths = (t.to(device) for t in Scorer.pad_right(candidate_ids))
    n, width = ids.shape
    # The expanded cache is a view of the prefix's keys and values: the gradient of every
    # candidate's attention over the prefix sums back into the one prefix computation.
    layers = [
        (layer.keys.expand(n, -1, -1, -1), layer.values.expand(n, -1, -1, -1))
        for layer in prefix.past_key_values.layers
    ]
    cache = DynamicCache(ddp_cache_data=layers)
    attention_mask = torch.cat([torch.ones((n, prefix_len), dtype=torch.long, device=device), mask], 1)
    position_ids = (prefix_len + torch.arange(width, device=device)).unsqueeze(0).expand(n, -1)
    hidden = body(
        input_ids=ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        past_key_values=cache,
        use_cache=True,
    ).last_hidden_state
    return scorer.answer_logit(hidden[torch.arange(n, device=device), lengths - 1])


def group_logits_naive(
    scorer: Scorer, context_ids: list[int], candidate_ids: list[list[int]]
) -> torch.Tensor:
    """The reference: every candidate's whole prompt, one padded batch (differentiable)."""
    ids, mask, lengths = (
        t.to(scorer.device) for t in Scorer.pad_right([context_ids + c for c in candidate_ids])
    )
    hidden = scorer.model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state
    return scorer.answer_logit(hidden[torch.arange(ids.shape[0], device=scorer.device), lengths - 1])


def auc(labels: Sequence[int], scores: Sequence[float]) -> float | None:
    """Area under the ROC curve (ties count half); None without both classes."""
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    pos, neg = s[y == 1], s[y == 0]
    if len(pos) == 0 or len(neg) == 0:
        return None
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def _ordered(groups: Sequence[SampleGroup]) -> list[SampleGroup]:
    return sorted(groups, key=lambda g: g.samples[0].sample_id)


def validation_auc(scorer: Scorer, groups: Sequence[SampleGroup]) -> float | None:
    labels: list[int] = []
    scores: list[float] = []
    for group in _ordered(groups):
        probabilities = scorer.score(group.context, [s.candidate for s in group.samples])
        labels.extend(s.label for s in group.samples)
        scores.extend(float(p) for p in probabilities)
    return auc(labels, scores)


def train_adapter(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    train: Sequence[SampleGroup],
    validation: Sequence[SampleGroup],
    settings: LoraSettings = LoraSettings(),
    *,
    progress: Callable[[int, int, float], None] | None = None,
) -> TrainedAdapter:
    """Train a fresh adapter on ``train``; keep the epoch with the best validation AUC.

    ``model`` is a freshly loaded base model; it is wrapped in place (load a new one for the
    next shard). ``progress(step, total_steps, loss)`` is called after every optimizer step.
    The process's determinism flag, thread count and RNG state are restored afterwards, so a
    worker or notebook that trains a shard does not keep running with training's settings.
    """
    if not train:
        raise ValueError("train_adapter: no training groups")
    with deterministic_torch(settings.threads):
        return _train(model, tokenizer, train, validation, settings, progress)


@contextmanager
def deterministic_torch(threads: int) -> Iterator[None]:
    """Deterministic kernels, ``threads`` threads and a private RNG inside; the caller's state after.

    Results depend on the thread count (reduction order), so it is part of the recipe and the
    manifest; ``fork_rng`` keeps the seeded dropout draws from leaking into the caller's RNG.
    """
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    previous_threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)
    try:
        with torch.random.fork_rng():
            yield
    finally:
        torch.use_deterministic_algorithms(was_deterministic, warn_only=warn_only)
        torch.set_num_threads(previous_threads)


def _train(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    train: Sequence[SampleGroup],
    validation: Sequence[SampleGroup],
    settings: LoraSettings,
    progress: Callable[[int, int, float], None] | None,
) -> TrainedAdapter:
    peft_model = attach_lora(model, settings)
    scorer = Scorer(peft_model.get_base_model(), tokenizer)
    trainable = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    forward = group_logits if settings.shared_prefix else group_logits_naive
    tokenized = [(g, *scorer.tokenize(g.context, [s.candidate for s in g.samples])) for g in _ordered(train)]
    steps_per_epoch = math.ceil(len(tokenized) / settings.groups_per_step)
    total_steps = steps_per_epoch * settings.max_epochs
    n_samples = sum(len(g.samples) for g in train)

    best = lora_tensors(peft_model)
    best_auc: float | None = None
    best_epoch = 0
    losses: list[float] = []
    curve: list[float] = []
    started = time.perf_counter()
    trained_samples = 0
    stale = 0
    for epoch in range(1, settings.max_epochs + 1):
        order = seeded_rng("order", settings.seed, epoch).permutation(len(tokenized))
        peft_model.train()
        for step in range(steps_per_epoch):
            batch = [
                tokenized[k]
                for k in order[step * settings.groups_per_step : (step + 1) * settings.groups_per_step]
            ]
            optimizer.zero_grad(set_to_none=True)
            total = sum(len(g.samples) for g, _, _ in batch)
            step_loss = 0.0
            # Dropout masks come from this seed alone: same step, same masks, any run.
            torch.manual_seed(int(seeded_rng("dropout", settings.seed, epoch, step).integers(2**62)))
            for group, context_ids, candidate_ids in batch:
                logits = forward(scorer, context_ids, candidate_ids)
                labels = torch.tensor([float(s.label) for s in group.samples], device=logits.device)
                # Sum over samples / samples in the step: every sample weighs the same.
                loss = (
                    torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="sum")
                    / total
                )
                loss.backward()
                step_loss += float(loss.detach())
            optimizer.step()
            trained_samples += total
            losses.append(step_loss)
            if progress is not None:
                progress((epoch - 1) * steps_per_epoch + step + 1, total_steps, step_loss)
        peft_model.eval()
        score = validation_auc(scorer, validation) if validation else None
        curve.append(float("nan") if score is None else score)
        if score is None or best_auc is None or score > best_auc:
            best, best_auc, best_epoch, stale = lora_tensors(peft_model), score, epoch, 0
        else:
            stale += 1
            if stale >= settings.patience:
                break
    seconds = time.perf_counter() - started
    load_lora_tensors(peft_model, best)
    return TrainedAdapter(
        tensors=copy.copy(best),
        settings=settings,
        train_groups=len(train),
        train_samples=n_samples,
        validation_auc=best_auc,
        best_epoch=best_epoch,
        seconds=seconds,
        samples_per_second=trained_samples / seconds if seconds > 0 else 0.0,
        losses=losses,
        validation_curve=curve,
    )


def save_adapter_file(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    """Write the tensors as safetensors so that equal tensors give equal bytes.

    safetensors keeps metadata in a hash map whose order varies from process to process, so
    the metadata travels as one canonical JSON string under a single key.
    """
    import json

    from safetensors.torch import save_file

    save_file(
        {name: tensors[name].contiguous() for name in sorted(tensors)},
        str(path),
        metadata={"streamrec": json.dumps(metadata, sort_keys=True)},
    )


def load_adapter_file(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return dict(load_file(str(path)))
