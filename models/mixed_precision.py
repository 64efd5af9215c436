"""``mixed`` precision for CPU serving: bf16 matrix multiplies, an fp32 residual stream.

Why not plain bf16 on the CPU? Measured on the 2-core dev CPU (avx512_bf16, SmolLM2-135M,
16 users x 20 candidates, packed scoring): a model cast to bf16 runs 1.4x faster than fp32 but
its top-10 overlaps fp32's by only 8 of 10 for some users (|dP| up to 0.026), and
``torch.autocast`` is worse still (6 of 10): both keep the residual stream, the norms and the
attention softmax in bf16, and the errors accumulate over 30 layers. Casting only the
projection weights, and only for the multiply, keeps everything between the multiplies in
fp32: top-10 overlap 9-10 of 10, |dP| <= 0.014, at the same 1.4x. int8 dynamic quantization
(per-tensor or per-channel weights) was faster still but broke the ranking (overlap 3-5 of
10): SmolLM2's activations have outliers that one int8 scale per row cannot hold.

Only the CPU serving path uses it. Training stays fp32, so adapters stay byte-exact and
deterministic; on CUDA plain bf16 is the default (``models.loading.resolve_precision``).
"""

from __future__ import annotations

import torch

__all__ = ["MixedLinear", "to_mixed"]


class MixedLinear(torch.nn.Linear):
    """A ``Linear`` whose weights are bf16 and whose input and output stay in ``activation_dtype``.

    Still an ``nn.Linear`` (``in_features``, ``out_features``, ``weight``), so code that looks
    for linear layers (LoRA attachment) finds it; ``activation_dtype`` tells that code which
    dtype the activations around it have.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.bfloat16,
        activation_dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self.activation_dtype = activation_dtype

    @classmethod
    def from_linear(cls, linear: torch.nn.Linear, weight_dtype: torch.dtype = torch.bfloat16) -> MixedLinear:
        """A frozen copy of ``linear`` with ``weight_dtype`` weights and its dtype as activation dtype."""
        layer = cls(
            linear.in_features,
            linear.out_features,
            bias=linear.bias is not None,
            device=linear.weight.device,
            dtype=weight_dtype,
            activation_dtype=linear.weight.dtype,
        )
        with torch.no_grad():
            layer.weight.copy_(linear.weight)
            if linear.bias is not None:
                layer.bias.copy_(linear.bias)
        return layer.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.nn.functional.linear(x.to(self.weight.dtype), self.weight, self.bias)
        return out.to(self.activation_dtype)


def to_mixed(model: torch.nn.Module, weight_dtype: torch.dtype = torch.bfloat16) -> int:
    """Replace every ``Linear`` except the output head by a :class:`MixedLinear`, in place.

    The output head is left alone because scoring multiplies only its 4 answer rows
    (``Scorer.answer_logit``) and the head is usually tied to the input embeddings. Returns the
    number of layers replaced.
    """
    get_head = getattr(model, "get_output_embeddings", None)
    head = get_head() if callable(get_head) else None
    targets = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if type(child) is torch.nn.Linear and child is not head
    ]
    for parent, name, child in targets:
        setattr(parent, name, MixedLinear.from_linear(child, weight_dtype))
    return len(targets)
