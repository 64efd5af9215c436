"""Async client for the ``summarizer`` Triton model (tritonclient gRPC, asyncio).

One ``summarize`` call is one gRPC round trip carrying N prompts: the model generates them
together (batched on the server) and returns the N summaries with the identity of the LM
that wrote them. Errors are translated exactly as for ``RecommenderClient`` (the shared
``serving._grpc``): ``ScoringUnavailable`` when the server cannot answer (connection refused,
timeout, internal error, model not loaded), ``ScoringRejected`` when it refused the request
as invalid (no prompts, a blank or over-long prompt, too many prompts).

The default timeout is long: on 2 CPU cores SmolLM2-135M takes several seconds per request
even for one prompt, and a request of 16 prompts takes tens of seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import tritonclient.grpc.aio as grpcclient

from serving._grpc import TritonModelClient, model_identity
from serving.contract import (
    MODEL_ID,
    PROMPTS,
    SUMMARIES,
    SUMMARIZER_MODEL_NAME,
    decode_summaries,
    decode_texts,
    encode_texts,
)
from serving.exceptions import ContractError, ScoringUnavailable

__all__ = ["SummarizerClient", "SummaryResult"]


@dataclass(frozen=True)
class SummaryResult:
    texts: list[str]  # one summary per prompt, in prompt order ("" if the model said nothing)
    model_name: str  # "<triton model>/<LM>", e.g. "summarizer/SmolLM2-135M-Instruct"
    model_version: str  # the Triton model version that answered
    latency_ms: float  # client-side round trip for the whole request


class SummarizerClient(TritonModelClient):
    """Generates summaries through Triton. Create inside or outside a loop; use inside one."""

    def __init__(self, url: str, model_name: str = SUMMARIZER_MODEL_NAME, timeout_s: float = 120.0) -> None:
        super().__init__(url, model_name, timeout_s)

    async def summarize(self, prompts: Sequence[str]) -> SummaryResult:
        """One summary per prompt (built with ``models.summary_prompts``), in prompt order."""
        texts = encode_texts(list(prompts))
        prompts_input = grpcclient.InferInput(PROMPTS.name, [len(texts)], PROMPTS.triton_dtype)
        prompts_input.set_data_from_numpy(texts)
        result, latency_ms = await self._triton.infer([prompts_input], [SUMMARIES.name, MODEL_ID.name])
        try:
            summaries = decode_summaries(result.as_numpy(SUMMARIES.name), len(texts))
            model_ids = decode_texts(result.as_numpy(MODEL_ID.name), MODEL_ID.name)
        except ContractError as exc:
            # The server answered, but not as the contract promises: a deployment mismatch.
            raise ScoringUnavailable(f"{self.model_name} at {self.url}: {exc}") from exc
        model_name, version = model_identity(self.model_name, model_ids, result.get_response().model_version)
        return SummaryResult(
            texts=summaries, model_name=model_name, model_version=version, latency_ms=latency_ms
        )
