"""Item and context vectors from the *base* LLM, for the semantic partition and APA weights.

An item's vector is the mean of the base model's last hidden states over the tokens of its
description (``describe_item``), L2-normalized. Each item runs alone (batch of one, no
padding) on purpose: padding and batch shape change floating-point rounding, and an item's
vector must not depend on which other items happened to share its batch, or a catalog change
could move a user to another shard.

A context's vector is the normalized mean of its items' vectors. It costs nothing at request
time (a lookup), which is what lets the sample-adaptive weights of APA run per request
without an extra pass over the context.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import torch

from models.prompts import describe_item
from models.types import ItemText

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["ItemEmbedder", "context_vector", "normalize"]

Vector = npt.NDArray[np.float64]


def normalize(vector: Vector) -> Vector:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def context_vector(item_ids: Iterable[str], vectors: Mapping[str, Vector], dim: int) -> Vector:
    """Normalized mean of the known items' vectors; zeros when none is known."""
    known = [vectors[i] for i in item_ids if i in vectors]
    if not known:
        return np.zeros(dim, dtype=np.float64)
    return normalize(np.mean(np.stack(known), axis=0))


class ItemEmbedder:
    """Embeds items with a frozen base model (never with adapters: they change with data)."""

    def __init__(
        self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, max_title_chars: int = 120
    ):
        self._body: torch.nn.Module = model.base_model
        self._tokenizer = tokenizer
        self._max_title_chars = max_title_chars
        self.device = next(model.parameters()).device
        self.dim = int(model.config.hidden_size)

    @torch.inference_mode()
    def embed(self, item: ItemText) -> Vector:
        ids = self._tokenizer(describe_item(item, self._max_title_chars), add_special_tokens=False)[
            "input_ids"
        ]
        if not ids:
            return np.zeros(self.dim, dtype=np.float64)
        hidden = self._body(input_ids=torch.tensor([ids], device=self.device)).last_hidden_state[0]
        return normalize(hidden.double().mean(dim=0).cpu().numpy())

    def embed_all(self, items: Sequence[ItemText], progress: bool = False) -> dict[str, Vector]:
        from tqdm import tqdm

        return {
            item.item_id: self.embed(item)
            for item in tqdm(items, disable=not progress, desc="embed items", unit="item")
        }
