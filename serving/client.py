"""Async client for the ``recommender`` Triton model (tritonclient gRPC, asyncio).

One ``score`` call is one gRPC round trip: the model returns the probabilities and the
identity of the LM that produced them together, so callers can record provenance for free.
Failures are translated into ``serving.exceptions``: ``ScoringUnavailable`` when the server
cannot answer (connection refused, timeout, internal error, model not loaded) and
``ScoringRejected`` when it refused this particular request as invalid.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import tritonclient.grpc.aio as grpcclient
from tritonclient.utils import InferenceServerException

from serving.contract import (
    CANDIDATES,
    CONTEXT,
    MODEL_ID,
    MODEL_NAME,
    PROBABILITIES,
    decode_probabilities,
    decode_texts,
    encode_texts,
)
from serving.exceptions import ContractError, ScoringRejected, ScoringUnavailable

__all__ = ["RecommenderClient", "ScoreResult"]

log = logging.getLogger(__name__)

# gRPC status codes meaning "this request is wrong", as tritonclient reports them.
_REJECTED_STATUSES = ("StatusCode.INVALID_ARGUMENT",)


@dataclass(frozen=True)
class ScoreResult:
    probabilities: npt.NDArray[np.float32]  # float32 [N], P(Yes) in candidate order
    model_name: str  # "<triton model>/<LM>", e.g. "recommender/SmolLM2-135M-Instruct"
    model_version: str  # the Triton model version that answered
    latency_ms: float  # client-side round trip


class RecommenderClient:
    """Scores candidates through Triton. Create inside or outside a loop; use inside one."""

    def __init__(self, url: str, model_name: str = MODEL_NAME, timeout_s: float = 30.0) -> None:
        if not url or "://" in url:
            raise ValueError(f"RecommenderClient.url must be 'host:port', got {url!r}")
        if timeout_s <= 0:
            raise ValueError(f"RecommenderClient.timeout_s must be > 0, got {timeout_s!r}")
        self.url = url
        self.model_name = model_name
        self.timeout_s = timeout_s
        # Created lazily: a grpc.aio channel binds to the event loop that is running when it
        # is created, and __init__ may run before any loop exists.
        self._client: grpcclient.InferenceServerClient | None = None

    def _connection(self) -> grpcclient.InferenceServerClient:
        if self._client is None:
            self._client = grpcclient.InferenceServerClient(url=self.url)
        return self._client

    async def score(self, context: str, candidates: Sequence[str]) -> ScoreResult:
        """P(Yes) for each candidate appended to ``context``, in candidate order."""
        texts = encode_texts(list(candidates))
        inputs = [
            grpcclient.InferInput(CONTEXT.name, [1], CONTEXT.triton_dtype),
            grpcclient.InferInput(CANDIDATES.name, [len(texts)], CANDIDATES.triton_dtype),
        ]
        inputs[0].set_data_from_numpy(encode_texts([context]))
        inputs[1].set_data_from_numpy(texts)
        outputs = [
            grpcclient.InferRequestedOutput(PROBABILITIES.name),
            grpcclient.InferRequestedOutput(MODEL_ID.name),
        ]
        started = time.perf_counter()
        try:
            result = await self._connection().infer(
                self.model_name, inputs, outputs=outputs, client_timeout=self.timeout_s
            )
        except InferenceServerException as exc:
            raise _translate(exc, self.url, self.model_name) from exc
        latency_ms = (time.perf_counter() - started) * 1000.0
        try:
            probabilities = decode_probabilities(result.as_numpy(PROBABILITIES.name), len(texts))
            model_ids = decode_texts(result.as_numpy(MODEL_ID.name), MODEL_ID.name)
        except ContractError as exc:
            # The server answered, but not in the shape the contract promises: a deployment
            # mismatch, not something the caller did.
            raise ScoringUnavailable(f"{self.model_name} at {self.url}: {exc}") from exc
        lm = model_ids[0] if model_ids else "unknown"
        return ScoreResult(
            probabilities=probabilities,
            model_name=f"{self.model_name}/{lm}",
            model_version=str(result.get_response().model_version),
            latency_ms=latency_ms,
        )

    async def is_ready(self) -> bool:
        """Whether the server is up and the model is loaded; never raises."""
        try:
            client = self._connection()
            return bool(
                await client.is_server_ready(client_timeout=self.timeout_s)
                and await client.is_model_ready(self.model_name, client_timeout=self.timeout_s)
            )
        except InferenceServerException as exc:
            log.debug("readiness check against %s failed: %s", self.url, exc)
            return False

    async def close(self) -> None:
        """Close the gRPC channel; the client can be used again afterwards (it reconnects)."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()


def _translate(
    exc: InferenceServerException, url: str, model_name: str
) -> ScoringRejected | ScoringUnavailable:
    status = str(exc.status() or "")
    message = f"{model_name} at {url}: {exc.message() or exc}"
    if status in _REJECTED_STATUSES:
        return ScoringRejected(message)
    return ScoringUnavailable(f"{message} ({status or 'no status'})")
