"""The client against a real tritonserver serving the tiny model: results, provenance, errors."""

import asyncio
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc.aio as grpcclient
from tritonclient.utils import InferenceServerException

from models.prompts import build_candidate, build_context
from models.scoring import Scorer
from models.types import HistoryEntry, ItemText
from serving.client import RecommenderClient, ScoreResult
from serving.contract import CANDIDATES, CONTEXT, MODEL_NAME, PROBABILITIES
from serving.exceptions import ScoringRejected, ScoringUnavailable
from serving.launcher import TritonServer
from tests.fixtures.triton import free_ports


def sample() -> tuple[str, list[str]]:
    history = [
        HistoryEntry(ItemText("h1", "Heat (1995)", ("Action", "Crime")), "rating", 4.5, 1),
        HistoryEntry(ItemText("h2", "Babe (1995)", ("Children",)), "dislike", None, 2),
    ]
    candidates = [
        build_candidate(ItemText("c1", "Casino (1995)", ("Crime", "Drama"))),
        build_candidate(ItemText("c2", "Toy Story (1995)", ("Animation", "Comedy"))),
        "Target item: something else entirely",
        "Yes",
    ]
    return build_context(history), candidates


async def score(url: str, context: str, candidates: Sequence[str], **kwargs: object) -> ScoreResult:
    client = RecommenderClient(url, **kwargs)  # type: ignore[arg-type]
    try:
        return await client.score(context, candidates)
    finally:
        await client.close()


def test_client_matches_in_process_scorer(triton_server: TritonServer, tiny_model_dir: Path) -> None:
    context, candidates = sample()
    result = asyncio.run(score(triton_server.grpc_url, context, candidates))
    expected = Scorer.from_pretrained(tiny_model_dir).score(context, candidates)
    assert result.probabilities.dtype == np.float32
    np.testing.assert_allclose(result.probabilities, expected, atol=1e-4, rtol=0)
    assert result.model_name == f"{MODEL_NAME}/tiny-llama"
    assert result.model_version == "1"
    assert result.latency_ms > 0


def test_is_ready_and_reuse_after_close(triton_server: TritonServer) -> None:
    async def run() -> tuple[bool, bool, ScoreResult]:
        client = RecommenderClient(triton_server.grpc_url)
        first = await client.is_ready()
        await client.close()
        second = await client.is_ready()  # reconnects lazily
        result = await client.score("ctx\n", ["Yes"])
        await client.close()
        await client.close()  # idempotent
        return first, second, result

    first, second, result = asyncio.run(run())
    assert first and second
    assert result.probabilities.shape == (1,)


def test_bad_request_is_rejected_and_server_keeps_serving(triton_server: TritonServer) -> None:
    url = triton_server.grpc_url
    with pytest.raises(ScoringRejected, match="candidates must not be empty"):
        asyncio.run(score(url, "ctx\n", []))
    with pytest.raises(ScoringRejected, match="candidate 1 produces no tokens"):
        asyncio.run(score(url, "ctx\n", ["ok", ""]))
    # Not something our client can send: invalid UTF-8, straight through tritonclient.
    asyncio.run(_send_invalid_utf8(url))
    context, candidates = sample()
    assert asyncio.run(score(url, context, candidates)).probabilities.shape == (4,)


async def _send_invalid_utf8(url: str) -> None:
    client = grpcclient.InferenceServerClient(url)
    try:
        context = grpcclient.InferInput(CONTEXT.name, [1], "BYTES")
        context.set_data_from_numpy(np.array([b"ctx"], dtype=np.object_))
        candidates = grpcclient.InferInput(CANDIDATES.name, [1], "BYTES")
        candidates.set_data_from_numpy(np.array([b"\xff\xfe"], dtype=np.object_))
        with pytest.raises(InferenceServerException, match="not valid UTF-8") as caught:
            await client.infer(MODEL_NAME, [context, candidates])
        assert caught.value.status() == "StatusCode.INVALID_ARGUMENT"
    finally:
        await client.close()


def test_unknown_model_and_dead_server_are_unavailable(triton_server: TritonServer) -> None:
    with pytest.raises(ScoringUnavailable, match="nope"):
        asyncio.run(score(triton_server.grpc_url, "ctx\n", ["Yes"], model_name="nope"))
    (dead_port,) = free_ports(1)
    dead = f"127.0.0.1:{dead_port}"
    with pytest.raises(ScoringUnavailable):
        asyncio.run(score(dead, "ctx\n", ["Yes"], timeout_s=5.0))

    async def ready() -> bool:
        client = RecommenderClient(dead, timeout_s=5.0)
        try:
            return await client.is_ready()
        finally:
            await client.close()

    assert asyncio.run(ready()) is False


def test_concurrent_requests_get_their_own_answers(triton_server: TritonServer, tiny_model_dir: Path) -> None:
    context, candidates = sample()
    requests = [candidates[i:] for i in range(len(candidates))]

    async def run() -> list[ScoreResult]:
        client = RecommenderClient(triton_server.grpc_url)
        try:
            return list(await asyncio.gather(*(client.score(context, c) for c in requests)))
        finally:
            await client.close()

    expected = Scorer.from_pretrained(tiny_model_dir).score(context, candidates)
    for offset, result in enumerate(asyncio.run(run())):
        np.testing.assert_allclose(result.probabilities, expected[offset:], atol=1e-4, rtol=0)


def test_client_validates_its_arguments() -> None:
    with pytest.raises(ValueError, match="host:port"):
        RecommenderClient("grpc://localhost:8001")
    with pytest.raises(ValueError, match="timeout_s.*0"):
        RecommenderClient("localhost:8001", timeout_s=0)


def test_probabilities_tensor_name_is_stable() -> None:
    # Renaming a tensor breaks deployed clients; make it a deliberate, reviewed change.
    assert PROBABILITIES.name == "PROBABILITIES"
