"""The wire contracts of the Triton models: tensor names, dtypes and encoding.

``recommender``: P(Yes) for the candidates of M users, each user's N candidates sharing that
user's context (M = 1 is the original single-user request; ``CANDIDATE_COUNTS`` and
``CONTEXT_ITEM_COUNTS`` split the flat tensors when M > 1). ``summarizer``: one generated
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
    "CANDIDATE_COUNTS",
    "CONTEXT_ITEM_COUNTS",
    "UserInput",
    "CONTEXT",
    "CONTEXT_ITEMS",
    "EXCLUDED_SHARDS",
    "INPUTS",
    "MODEL_ID",
    "MAX_USERS",
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
    "decode_users",
    "encode_counts",
    "decode_probabilities",
    "decode_summaries",
    "decode_shards",
    "decode_texts",
    "encode_probabilities",
    "encode_shards",
    "encode_texts",
]

MODEL_NAME = "recommender"
MAX_USERS = 64  # per request: bounds the padded prefix pass (M contexts at once)


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


# Inputs: M user contexts (the prompt prefixes) and all their candidate suffixes, user after
# user; CANDIDATE_COUNTS says how many belong to each user (absent: M must be 1).
CONTEXT = TensorSpec("CONTEXT", "BYTES", np.object_, (-1,))
CANDIDATES = TensorSpec("CANDIDATES", "BYTES", np.object_, (-1,))
CANDIDATE_COUNTS = TensorSpec("CANDIDATE_COUNTS", "INT32", np.int32, (-1,))
# Optional inputs of the adapter set: the item ids shown in each context (their vectors give the
# APA weights), split per user by CONTEXT_ITEM_COUNTS like the candidates, and shards that must
# not score for anyone in the request (dirty after a deletion). Absent = none.
CONTEXT_ITEMS = TensorSpec("CONTEXT_ITEMS", "BYTES", np.object_, (-1,))
CONTEXT_ITEM_COUNTS = TensorSpec("CONTEXT_ITEM_COUNTS", "INT32", np.int32, (-1,))
EXCLUDED_SHARDS = TensorSpec("EXCLUDED_SHARDS", "INT32", np.int32, (-1,))
# Outputs: P(Yes) per candidate, in input order, which LM produced them, the adapter set that
# did ("zero-shot" when none is served; one set answers the whole request) and the per-shard
# weights, K per user, user after user (M * K values).
PROBABILITIES = TensorSpec("PROBABILITIES", "FP32", np.float32, (-1,))
MODEL_ID = TensorSpec("MODEL_ID", "BYTES", np.object_, (1,))
ADAPTER_SET = TensorSpec("ADAPTER_SET", "BYTES", np.object_, (1,))
SHARD_WEIGHTS = TensorSpec("SHARD_WEIGHTS", "FP32", np.float32, (-1,))

INPUTS: tuple[TensorSpec, ...] = (
    CONTEXT,
    CANDIDATES,
    CANDIDATE_COUNTS,
    CONTEXT_ITEMS,
    CONTEXT_ITEM_COUNTS,
    EXCLUDED_SHARDS,
)
OPTIONAL_INPUTS: tuple[TensorSpec, ...] = (
    CANDIDATE_COUNTS,
    CONTEXT_ITEMS,
    CONTEXT_ITEM_COUNTS,
    EXCLUDED_SHARDS,
)
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


@dataclass(frozen=True)
class UserInput:
    """One user's part of a recommender request, after splitting the flat tensors."""

    context: str
    candidates: tuple[str, ...]
    context_items: tuple[str, ...]


def encode_counts(counts: Sequence[int]) -> npt.NDArray[np.int32]:
    """Per-user lengths -> a CANDIDATE_COUNTS / CONTEXT_ITEM_COUNTS tensor (1-D int32)."""
    return np.asarray(list(counts), dtype=np.int32).reshape(-1)


def _split(values: list[str], counts: npt.NDArray[Any] | None, users: int, name: str) -> list[list[str]]:
    if counts is None:
        if users != 1 and values:
            raise ContractError(f"{name} for {users} users needs its counts tensor")
        return [values] + [[] for _ in range(users - 1)]
    sizes = np.asarray(counts).reshape(-1)
    if (
        not np.issubdtype(sizes.dtype, np.integer)
        or sizes.shape[0] != users
        or (sizes.size and sizes.min() < 0)
    ):
        raise ContractError(f"the counts of {name} must be {users} non-negative integers")
    if int(sizes.sum()) != len(values):
        raise ContractError(f"the counts of {name} add up to {int(sizes.sum())}, but it holds {len(values)}")
    bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    return [values[bounds[u] : bounds[u + 1]] for u in range(users)]


def decode_users(
    contexts: npt.NDArray[Any],
    candidates: npt.NDArray[Any],
    candidate_counts: npt.NDArray[Any] | None,
    context_items: npt.NDArray[Any] | None,
    context_item_counts: npt.NDArray[Any] | None,
) -> list[UserInput]:
    """The flat request tensors -> one :class:`UserInput` per context, checking every count."""
    texts = decode_texts(contexts, CONTEXT.name)
    if not 1 <= len(texts) <= MAX_USERS:
        raise ContractError(f"{CONTEXT.name} must hold 1 to {MAX_USERS} contexts, got {len(texts)}")
    per_user = _split(
        decode_texts(candidates, CANDIDATES.name), candidate_counts, len(texts), CANDIDATES.name
    )
    items = [] if context_items is None else decode_texts(context_items, CONTEXT_ITEMS.name)
    items_per_user = _split(items, context_item_counts, len(texts), CONTEXT_ITEMS.name)
    return [
        UserInput(context, tuple(cands), tuple(its))
        for context, cands, its in zip(texts, per_user, items_per_user, strict=True)
    ]
