"""The wire contracts of the Triton models: tensor names, dtypes and encoding.

``recommender``: P(Yes) for N candidates sharing one context. ``summarizer``: one generated
preference summary per prompt. The clients (``serving.client``,
``serving.summarizer_client``) and the Triton model files (``model_repository/<model>/1/``)
all import this module, so a renamed tensor cannot drift between them; each
``config.pbtxt`` repeats the same names (a test checks it). Only numpy is imported here, so
it is safe inside the Triton stub.

Strings travel as Triton BYTES tensors: numpy object arrays of UTF-8 ``bytes``.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from serving.exceptions import ContractError

__all__ = [
    "ADAPTER_SET",
    "CANDIDATES",
    "CONTEXT",
    "CONTEXT_ITEMS",
    "EXCLUDED_SHARDS",
    "INPUTS",
    "MODEL_ID",
    "MODEL_NAME",
    "OPTIONAL_INPUTS",
    "OUTPUTS",
    "SHARD_WEIGHTS",
    "PROBABILITIES",
    "PROMPTS",
    "SUMMARIES",
    "SUMMARIZER_INPUTS",
    "SUMMARIZER_MODEL_NAME",
    "SUMMARIZER_OUTPUTS",
    "TensorSpec",
    "decode_context",
    "decode_probabilities",
    "decode_summaries",
    "decode_shards",
    "decode_texts",
    "encode_probabilities",
    "encode_shards",
    "encode_texts",
]

MODEL_NAME = "recommender"


@dataclass(frozen=True)
class TensorSpec:
    """One tensor of the model's interface. ``-1`` in ``dims`` means variable length."""

    name: str
    triton_dtype: str  # as tritonclient spells it; config.pbtxt uses TYPE_<x>, STRING for BYTES
    numpy_dtype: type[np.generic]
    dims: tuple[int, ...]

    @property
    def config_dtype(self) -> str:
        """The data_type as written in config.pbtxt."""
        return "TYPE_STRING" if self.triton_dtype == "BYTES" else f"TYPE_{self.triton_dtype}"


# Inputs: one user context (the prompt prefix) and the N candidate suffixes.
CONTEXT = TensorSpec("CONTEXT", "BYTES", np.object_, (1,))
CANDIDATES = TensorSpec("CANDIDATES", "BYTES", np.object_, (-1,))
# Optional inputs of the adapter set: the item ids shown in the context (their vectors give the
# APA weights) and shards that must not score (dirty after a deletion). Absent = none.
CONTEXT_ITEMS = TensorSpec("CONTEXT_ITEMS", "BYTES", np.object_, (-1,))
EXCLUDED_SHARDS = TensorSpec("EXCLUDED_SHARDS", "INT32", np.int32, (-1,))
# Outputs: P(Yes) per candidate, in input order, which LM produced them, the adapter set that
# did ("zero-shot" when none is served) and its per-shard weights for this request.
PROBABILITIES = TensorSpec("PROBABILITIES", "FP32", np.float32, (-1,))
MODEL_ID = TensorSpec("MODEL_ID", "BYTES", np.object_, (1,))
ADAPTER_SET = TensorSpec("ADAPTER_SET", "BYTES", np.object_, (1,))
SHARD_WEIGHTS = TensorSpec("SHARD_WEIGHTS", "FP32", np.float32, (-1,))

INPUTS: tuple[TensorSpec, ...] = (CONTEXT, CANDIDATES, CONTEXT_ITEMS, EXCLUDED_SHARDS)
OPTIONAL_INPUTS: tuple[TensorSpec, ...] = (CONTEXT_ITEMS, EXCLUDED_SHARDS)
OUTPUTS: tuple[TensorSpec, ...] = (PROBABILITIES, MODEL_ID, ADAPTER_SET, SHARD_WEIGHTS)

# The summarizer: N prompts in, N summaries out (same order), plus the same MODEL_ID tensor.
# One request is one batch of prompts (max_batch_size 0, like the recommender), so a caller
# decides how many summary updates share a generate() call.
SUMMARIZER_MODEL_NAME = "summarizer"
PROMPTS = TensorSpec("PROMPTS", "BYTES", np.object_, (-1,))
SUMMARIES = TensorSpec("SUMMARIES", "BYTES", np.object_, (-1,))
SUMMARIZER_INPUTS: tuple[TensorSpec, ...] = (PROMPTS,)
SUMMARIZER_OUTPUTS: tuple[TensorSpec, ...] = (SUMMARIES, MODEL_ID)


def encode_texts(texts: Sequence[str]) -> npt.NDArray[np.object_]:
    """Strings -> 1-D object array of UTF-8 bytes (a BYTES tensor)."""
    array = np.empty(len(texts), dtype=np.object_)
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise ContractError(f"text {index} must be str, got {type(text).__name__}")
        array[index] = text.encode("utf-8")
    return array


def decode_texts(array: npt.NDArray[Any], name: str) -> list[str]:
    """A BYTES tensor (any shape, flattened) -> strings; ``name`` is used in errors."""
    texts: list[str] = []
    for index, value in enumerate(np.asarray(array, dtype=np.object_).reshape(-1)):
        if isinstance(value, str):
            texts.append(value)
            continue
        if not isinstance(value, (bytes, np.bytes_)):
            raise ContractError(f"{name}[{index}] must be bytes, got {type(value).__name__}")
        try:
            texts.append(bytes(value).decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ContractError(f"{name}[{index}] is not valid UTF-8: {exc}") from exc
    return texts


def decode_context(array: npt.NDArray[Any]) -> str:
    """The CONTEXT tensor -> its single string."""
    texts = decode_texts(array, CONTEXT.name)
    if len(texts) != 1:
        raise ContractError(f"{CONTEXT.name} must hold exactly one string, got {len(texts)}")
    return texts[0]


def encode_probabilities(probabilities: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Scores -> the PROBABILITIES tensor (1-D float32)."""
    return np.ascontiguousarray(np.asarray(probabilities, dtype=np.float32).reshape(-1))


def decode_probabilities(array: npt.NDArray[Any] | None, expected: int) -> npt.NDArray[np.float32]:
    """The PROBABILITIES tensor -> float32 [expected], checking the length."""
    if array is None:
        raise ContractError(f"response has no {PROBABILITIES.name} tensor")
    values = np.asarray(array, dtype=np.float32).reshape(-1)
    if values.shape[0] != expected:
        raise ContractError(f"{PROBABILITIES.name} has {values.shape[0]} values for {expected} candidates")
    return values


def decode_summaries(array: npt.NDArray[Any] | None, expected: int) -> list[str]:
    """The SUMMARIES tensor -> one string per prompt, checking the count."""
    if array is None:
        raise ContractError(f"response has no {SUMMARIES.name} tensor")
    texts = decode_texts(array, SUMMARIES.name)
    if len(texts) != expected:
        raise ContractError(f"{SUMMARIES.name} has {len(texts)} texts for {expected} prompts")
    return texts


def encode_shards(shards: Sequence[int]) -> npt.NDArray[np.int32]:
    """Shard numbers -> the EXCLUDED_SHARDS tensor (1-D int32)."""
    return np.asarray(list(shards), dtype=np.int32).reshape(-1)


def decode_shards(array: npt.NDArray[Any] | None) -> list[int]:
    """The EXCLUDED_SHARDS tensor (absent = none) -> distinct non-negative shard numbers."""
    if array is None:
        return []
    values = np.asarray(array).reshape(-1)
    if values.size and (not np.issubdtype(values.dtype, np.integer) or values.min() < 0):
        raise ContractError(f"{EXCLUDED_SHARDS.name} must hold non-negative integers")
    return sorted({int(v) for v in values})
