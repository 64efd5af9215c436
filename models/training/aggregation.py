"""APA's aggregation: K shard adapters applied as one, weighted per request, base weights untouched.

**The sum.** For every adapted linear layer, serving applies exactly

    y = W x + sum_k w_k * s_k * B_k (A_k x)

(APA's non-decomposed form, ND). It equals one LoRA of rank K*r built by concatenation,
``A = [w_1 s_1 A_1; ...; w_K s_K A_K]`` and ``B = [B_1 ... B_K]``, which is what
:class:`AggregatedLoRALinear` computes: two thin matmuls per layer, so the cost stays close to
the base model's. (peft's ``linear`` combination would build ``(sum sqrt(w s) B_k)(sum sqrt(w s)
A_k)`` with cross terms ``B_i A_j``; that is not this sum.)

**Several users in one batch.** With one weight vector per request the weights fold into A
(``set_weights``). A batch that mixes users (``Scorer.score_many``) needs a weight vector per
row, so ``set_row_weights`` keeps A unweighted and scales each row's rank-K*r activations
instead: ``B (w_row * (A x))``, the same sum for every row.

**The weights.** APA's sample-adaptive rule: find the ``n`` validation samples whose contexts
are most similar (cosine) to the request's, take each adapter's mean prediction error
``|label - p_k|`` on them, and set ``w = softmax(-tau * error)``. Shards that must not serve
(dirty after a deletion) get weight 0 and the rest are renormalized. The validation index holds
salted user keys and vectors, never a raw user id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from models.mixed_precision import MixedLinear

__all__ = [
    "AggregatedLoRALinear",
    "ValidationIndex",
    "WeightRule",
    "attach_aggregated",
    "set_row_weights",
    "set_weights",
    "softmax_weights",
]


class AggregatedLoRALinear(torch.nn.Module):
    """A frozen base ``Linear`` plus the weighted sum of K LoRA updates (rank K*r concatenation)."""

    def __init__(self, base: torch.nn.Linear, a: torch.Tensor, b: torch.Tensor, scaling: torch.Tensor):
        super().__init__()
        k, r, _ = a.shape  # a: [K, r, in], b: [K, out, r], scaling: [K]
        self.base = base
        # The LoRA path works in the dtype of the activations: a MixedLinear base keeps bf16
        # weights but fp32 inputs and outputs, and the update must be added in fp32.
        dtype = base.activation_dtype if isinstance(base, MixedLinear) else base.weight.dtype
        device = base.weight.device
        # Plain attributes, not buffers: they are inputs of serving, never saved with the model.
        # They live where the base weights live (a GPU in production).
        self.a: torch.Tensor = a.to(device=device, dtype=dtype)
        self.scaling: torch.Tensor = scaling.to(torch.float64)
        self.k, self.r = k, r
        # [out, K*r]: B_1 | B_2 | ... | B_K, fixed; the weights go on the A side.
        self.b_cat: torch.Tensor = (
            b.permute(1, 0, 2).reshape(b.shape[1], k * r).to(device=device, dtype=dtype)
        )
        self.a_cat: torch.Tensor = torch.zeros(k * r, a.shape[2], dtype=dtype, device=device)
        # Row mode (set_row_weights): the weights differ per batch row, so they cannot be
        # folded into A; they multiply A's output instead. [K*r, in], each A_k scaled by s_k.
        self.a_stack: torch.Tensor = (
            (self.scaling.to(a.device)[:, None, None] * a.to(torch.float64))
            .reshape(k * r, -1)
            .to(device=device, dtype=dtype)
        )
        # [rows, K*r]: each row's w_k repeated r times; None outside row mode.
        self.row_factors: torch.Tensor | None = None
        self.active = False

    def set_weights(self, weights: torch.Tensor) -> None:
        """``weights`` [K] for every row; all zero disables the update (the base model alone).

        Leaves row mode: the last call of either setter decides.
        """
        if weights.shape != (self.k,):
            raise ValueError(f"set_weights: expected {self.k} weights, got shape {tuple(weights.shape)}")
        factors = (weights.to(torch.float64) * self.scaling).to(device=self.a.device, dtype=self.a.dtype)
        self.a_cat = (factors[:, None, None] * self.a).reshape(self.k * self.r, -1)
        self.row_factors = None
        self.active = bool(torch.any(weights != 0))

    def set_row_weights(self, weights: torch.Tensor) -> None:
        """``weights`` [rows, K]: row i of every following forward pass uses ``weights[i]``.

        For batches that mix users (``Scorer.score_many``); the caller sets them again before
        each pass whose rows differ. ``out = W x + B_cat((A_stack x) * row_factors)``: the same
        sum as :meth:`set_weights` per row, up to rounding, and an all-zero row adds exact zeros,
        so that row gets exactly the base output.
        """
        if weights.dim() != 2 or weights.shape[1] != self.k or weights.shape[0] < 1:
            raise ValueError(
                f"set_row_weights: expected [rows, {self.k}] weights, got shape {tuple(weights.shape)}"
            )
        factors = weights.to(torch.float64).repeat_interleave(self.r, dim=1)
        self.row_factors = factors.to(device=self.a_stack.device, dtype=self.a_stack.dtype)
        self.active = bool(torch.any(weights != 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        if not self.active:
            return out
        if self.row_factors is None:
            return out + torch.nn.functional.linear(torch.nn.functional.linear(x, self.a_cat), self.b_cat)
        rows = self.row_factors.shape[0]
        if x.dim() < 2 or x.shape[0] != rows:
            # A stale row count would broadcast or fail obscurely; name the mismatch instead.
            raise ValueError(
                f"AggregatedLoRALinear: row weights are set for {rows} rows, the input has shape "
                f"{tuple(x.shape)}"
            )
        # [rows, K*r] -> [rows, 1, ..., K*r], broadcast over the sequence dimensions.
        factors = self.row_factors.view(rows, *([1] * (x.dim() - 2)), -1)
        low_rank = torch.nn.functional.linear(x, self.a_stack) * factors
        return out + torch.nn.functional.linear(low_rank, self.b_cat)


def attach_aggregated(
    model: torch.nn.Module, adapters: Sequence[Mapping[str, torch.Tensor]], scalings: Sequence[float]
) -> list[AggregatedLoRALinear]:
    """Replace each adapted ``Linear`` of ``model`` by an :class:`AggregatedLoRALinear`, in place.

    ``adapters[k]`` maps ``<module path>.lora_A`` / ``.lora_B`` to tensors (``lora.lora_tensors``);
    every adapter must adapt the same modules. Returns the new layers.
    """
    if not adapters:
        raise ValueError("attach_aggregated: no adapters")
    paths = sorted(name.removesuffix(".lora_A") for name in adapters[0] if name.endswith(".lora_A"))
    for k, adapter in enumerate(adapters):
        other = sorted(name.removesuffix(".lora_A") for name in adapter if name.endswith(".lora_A"))
        if other != paths:
            raise ValueError(f"attach_aggregated: adapter {k} adapts other modules than adapter 0")
    # Check everything before replacing anything, so a bad set never half-replaces a model.
    bases: list[tuple[torch.nn.Module, str, torch.nn.Linear]] = []
    for path in paths:
        parent_path, _, attr = path.rpartition(".")
        try:
            parent = model.get_submodule(parent_path)
        except AttributeError as exc:
            raise ValueError(f"attach_aggregated: the model has no module {parent_path!r}") from exc
        base = getattr(parent, attr, None)
        if isinstance(base, AggregatedLoRALinear):
            base = base.base
        if not isinstance(base, torch.nn.Linear):
            raise ValueError(f"attach_aggregated: {path} is {type(base).__name__}, not Linear")
        for k, adapter in enumerate(adapters):
            a, b = adapter[f"{path}.lora_A"], adapter[f"{path}.lora_B"]
            if a.shape[1] != base.in_features or b.shape[0] != base.out_features or a.shape[0] != b.shape[1]:
                raise ValueError(
                    f"attach_aggregated: adapter {k} has A {tuple(a.shape)} / B {tuple(b.shape)} at {path}, "
                    f"which does not fit Linear({base.in_features}, {base.out_features})"
                )
        bases.append((parent, attr, base))
    layers: list[AggregatedLoRALinear] = []
    scaling = torch.tensor(list(scalings), dtype=torch.float64)
    for path, (parent, attr, base) in zip(paths, bases, strict=True):
        a = torch.stack([adapter[f"{path}.lora_A"] for adapter in adapters])
        b = torch.stack([adapter[f"{path}.lora_B"] for adapter in adapters])
        layer = AggregatedLoRALinear(base, a, b, scaling)
        setattr(parent, attr, layer)
        layers.append(layer)
    return layers


def set_weights(layers: Sequence[AggregatedLoRALinear], weights: npt.ArrayLike) -> None:
    tensor = torch.as_tensor(np.asarray(weights, dtype=np.float64))
    for layer in layers:
        layer.set_weights(tensor)


def set_row_weights(layers: Sequence[AggregatedLoRALinear], weights: npt.ArrayLike) -> None:
    """Per-row weights [rows, K] on every layer (see :meth:`AggregatedLoRALinear.set_row_weights`)."""
    tensor = torch.as_tensor(np.asarray(weights, dtype=np.float64))
    for layer in layers:
        layer.set_row_weights(tensor)


def softmax_weights(
    errors: npt.NDArray[np.float64], tau: float, usable: npt.NDArray[np.bool_]
) -> npt.NDArray[np.float64]:
    """softmax(-tau * error) over the usable adapters; 0 for the others. tau = 0: equal weights."""
    if not usable.any():
        raise ValueError("softmax_weights: no usable adapter")
    logits = np.where(usable, -tau * errors, -np.inf)
    logits = logits - logits[usable].max()
    weights = np.where(usable, np.exp(logits), 0.0)
    return weights / weights.sum()


@dataclass(frozen=True)
class WeightRule:
    """APA's two knobs, tuned on validation only."""

    neighbours: int = 20  # n; APA used 20 on Movie
    tau: float = 1000.0  # APA used 1000

    def __post_init__(self) -> None:
        if isinstance(self.neighbours, bool) or not isinstance(self.neighbours, int) or self.neighbours < 1:
            raise ValueError(f"WeightRule.neighbours must be a positive integer, got {self.neighbours!r}")
        if not (np.isfinite(self.tau) and self.tau >= 0):
            raise ValueError(f"WeightRule.tau must be finite and >= 0, got {self.tau!r}")


@dataclass(frozen=True)
class ValidationIndex:
    """Validation samples of every shard: context vectors, labels, and each adapter's prediction.

    Rows are samples; ``predictions[i, k]`` is adapter k's P(Yes) on sample i. ``user_keys`` lets a
    deletion drop a user's rows; no raw user id is stored.
    """

    sample_ids: tuple[str, ...]
    user_keys: tuple[str, ...]
    shards: npt.NDArray[np.int64]  # the shard each sample belongs to
    vectors: npt.NDArray[np.float64]  # [N, dim], L2-normalized context vectors
    labels: npt.NDArray[np.int64]  # [N]
    predictions: npt.NDArray[np.float64]  # [N, K]

    def __post_init__(self) -> None:
        n = len(self.sample_ids)
        if not (
            len(self.user_keys)
            == len(self.shards)
            == len(self.vectors)
            == len(self.labels)
            == len(self.predictions)
            == n
        ):
            raise ValueError("ValidationIndex: every column must have one row per sample")

    @property
    def errors(self) -> npt.NDArray[np.float64]:
        return np.abs(self.labels[:, None].astype(np.float64) - self.predictions)

    def weights(
        self,
        vector: npt.NDArray[np.float64],
        rule: WeightRule,
        usable: npt.NDArray[np.bool_],
        exclude: npt.NDArray[np.bool_] | None = None,
    ) -> npt.NDArray[np.float64]:
        """Per-adapter weights for a request whose context vector is ``vector``.

        ``exclude`` masks index rows out (a sample's own row while tuning; rows of dirty
        shards). Without usable rows the weights are equal over the usable adapters.
        """
        keep = np.ones(len(self.sample_ids), dtype=bool) if exclude is None else ~exclude
        if not keep.any() or not np.any(vector):
            return softmax_weights(np.zeros(usable.shape[0]), 0.0, usable)
        candidates = np.flatnonzero(keep)
        similarity = self.vectors[candidates] @ vector
        # Stable top-n: highest similarity first, ties by row order, so weights are deterministic.
        order = np.lexsort((candidates, -similarity))[: rule.neighbours]
        mean_error = self.errors[candidates[order]].mean(axis=0)
        return softmax_weights(mean_error, rule.tau, usable)
