"""Async client for the ``recommender`` Triton model (tritonclient gRPC, asyncio).

One ``score`` or ``score_many`` call is one gRPC round trip: the model returns the probabilities and the
identity of the LM that produced them together, so callers can record provenance for free.
Failures are translated into ``serving.exceptions``: ``ScoringUnavailable`` when the server
cannot answer (connection refused, timeout, internal error, model not loaded) and
``ScoringRejected`` when it refused this particular request as invalid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import tritonclient.grpc.aio as grpcclient

from serving._grpc import TritonModelClient, model_identity
from serving.contract import (
    ADAPTER_SET,
    CANDIDATE_COUNTS,
    CANDIDATES,
    CONTEXT,
    CONTEXT_ITEM_COUNTS,
    CONTEXT_ITEMS,
    EXCLUDED_SHARDS,
    MODEL_ID,
    MODEL_NAME,
    PROBABILITIES,
    SHARD_WEIGHTS,
    decode_probabilities,
    decode_texts,
    encode_counts,
    encode_shards,
    encode_texts,
)
from serving.exceptions import ContractError, ScoringUnavailable

__all__ = ["RecommenderClient", "ScoreRequest", "ScoreResult"]


@dataclass(frozen=True)
class ScoreResult:
    probabilities: npt.NDArray[np.float32]  # float32 [N], P(Yes) in candidate order
    model_name: str  # "<triton model>/<LM>", e.g. "recommender/SmolLM2-135M-Instruct"
    model_version: str  # the Triton model version that answered
    latency_ms: float  # client-side round trip
    adapter_set: str = "zero-shot"  # the adapter set version that scored, or "zero-shot"
    shard_weights: tuple[float, ...] = ()  # the per-shard APA weights of this request


@dataclass(frozen=True)
class ScoreRequest:
    """One user's part of a cross-user call."""

    context: str
    candidates: tuple[str, ...]
    context_items: tuple[str, ...] = ()


class RecommenderClient(TritonModelClient):
    """Scores candidates through Triton. Create inside or outside a loop; use inside one."""

    def __init__(self, url: str, model_name: str = MODEL_NAME, timeout_s: float = 30.0) -> None:
        super().__init__(url, model_name, timeout_s)

    async def score(
        self,
        context: str,
        candidates: Sequence[str],
        context_items: Sequence[str] = (),
        excluded_shards: Sequence[int] = (),
    ) -> ScoreResult:
        """P(Yes) for each candidate appended to ``context``, in candidate order.

        ``context_items`` (the item ids shown in the context) select the adapter weights;
        ``excluded_shards`` are never used for this request.
        """
        request = ScoreRequest(context, tuple(candidates), tuple(context_items))
        return (await self.score_many([request], excluded_shards))[0]

    async def score_many(
        self, requests: Sequence[ScoreRequest], excluded_shards: Sequence[int] = ()
    ) -> list[ScoreResult]:
        """Several users in one round trip (cross-user batching); one result per request, in order.

        All users are scored by the same adapter set, each with their own shard weights;
        ``excluded_shards`` holds for every one of them. The round trip's latency is reported
        on each result.
        """
        if not requests:
            return []
        texts = encode_texts([c for r in requests for c in r.candidates])
        contexts = encode_texts([r.context for r in requests])
        inputs = [
            grpcclient.InferInput(CONTEXT.name, [len(contexts)], CONTEXT.triton_dtype),
            grpcclient.InferInput(CANDIDATES.name, [len(texts)], CANDIDATES.triton_dtype),
        ]
        inputs[0].set_data_from_numpy(contexts)
        inputs[1].set_data_from_numpy(texts)
        if len(requests) > 1:
            counts = encode_counts([len(r.candidates) for r in requests])
            inputs.append(
                grpcclient.InferInput(CANDIDATE_COUNTS.name, [len(counts)], CANDIDATE_COUNTS.triton_dtype)
            )
            inputs[-1].set_data_from_numpy(counts)
        items = [i for r in requests for i in r.context_items]
        if items:
            inputs.append(grpcclient.InferInput(CONTEXT_ITEMS.name, [len(items)], CONTEXT_ITEMS.triton_dtype))
            inputs[-1].set_data_from_numpy(encode_texts(items))
            if len(requests) > 1:
                item_counts = encode_counts([len(r.context_items) for r in requests])
                inputs.append(
                    grpcclient.InferInput(
                        CONTEXT_ITEM_COUNTS.name, [len(item_counts)], CONTEXT_ITEM_COUNTS.triton_dtype
                    )
                )
                inputs[-1].set_data_from_numpy(item_counts)
        if excluded_shards:
            shards = encode_shards(excluded_shards)
            inputs.append(
                grpcclient.InferInput(EXCLUDED_SHARDS.name, [len(shards)], EXCLUDED_SHARDS.triton_dtype)
            )
            inputs[-1].set_data_from_numpy(shards)
        outputs = [PROBABILITIES.name, MODEL_ID.name, ADAPTER_SET.name, SHARD_WEIGHTS.name]
        result, latency_ms = await self._triton.infer(inputs, outputs)
        try:
            probabilities = decode_probabilities(result.as_numpy(PROBABILITIES.name), len(texts))
            model_ids = decode_texts(result.as_numpy(MODEL_ID.name), MODEL_ID.name)
            sets = decode_texts(result.as_numpy(ADAPTER_SET.name), ADAPTER_SET.name)
            weights = result.as_numpy(SHARD_WEIGHTS.name)
            flat = np.zeros(0, dtype=np.float32) if weights is None else np.asarray(weights).reshape(-1)
            if flat.size % len(requests):
                raise ContractError(f"{SHARD_WEIGHTS.name} has {flat.size} values for {len(requests)} users")
        except ContractError as exc:
            # The server answered, but not in the shape the contract promises: a deployment
            # mismatch, not something the caller did.
            raise ScoringUnavailable(f"{self.model_name} at {self.url}: {exc}") from exc
        model_name, version = model_identity(self.model_name, model_ids, result.get_response().model_version)
        per_user = flat.reshape(len(requests), -1)
        bounds = np.cumsum([0] + [len(r.candidates) for r in requests])
        return [
            ScoreResult(
                probabilities=probabilities[bounds[u] : bounds[u + 1]],
                model_name=model_name,
                model_version=version,
                latency_ms=latency_ms,
                adapter_set=sets[0] if sets else "zero-shot",
                shard_weights=tuple(float(w) for w in per_user[u]),
            )
            for u in range(len(requests))
        ]
