"""SummarizerClient against a real tritonserver serving the tiny model: results, provenance, errors."""

import asyncio
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc.aio as grpcclient
from tritonclient.utils import InferenceServerException

from models.summarizer import Summarizer
from models.summary_prompts import merge_prompt, recurrent_prompt
from models.types import HistoryEntry, ItemText
from serving.contract import PROMPTS, SUMMARIZER_MODEL_NAME
from serving.exceptions import ScoringRejected, ScoringUnavailable
from serving.launcher import TritonServer
from serving.summarizer_client import SummarizerClient, SummaryResult
from tests.fixtures.triton import free_ports


def sample_prompts() -> list[str]:
    block = [
        HistoryEntry(ItemText("h1", "Heat (1995)", ("Action", "Crime")), "rating", 4.5, 1),
        HistoryEntry(ItemText("h2", "Babe (1995)", ("Children",)), "dislike", None, 2),
        HistoryEntry(ItemText("h3", "Casino (1995)", ("Crime", "Drama")), "click", None, 3),
    ]
    first = recurrent_prompt(None, block)
    update = recurrent_prompt("The user likes 1990s crime films and avoids children's films.", block[1:])
    return [first, update, merge_prompt(["Likes westerns.", "Now prefers science fiction."]), first]


async def summarize(url: str, prompts: Sequence[str], **kwargs: object) -> SummaryResult:
    client = SummarizerClient(url, **kwargs)  # type: ignore[arg-type]
    try:
        return await client.summarize(prompts)
    finally:
        await client.close()


@pytest.fixture(scope="module")
def in_process(tiny_model_dir: Path) -> Summarizer:
    """The same model and the server's default GenerationConfig, in this process."""
    return Summarizer.from_pretrained(tiny_model_dir)


def test_client_matches_in_process_summarizer(triton_server: TritonServer, in_process: Summarizer) -> None:
    prompts = sample_prompts()
    result = asyncio.run(summarize(triton_server.grpc_url, prompts))
    assert result.texts == in_process.summarize(prompts)
    assert len(result.texts) == 4 and result.texts[0] == result.texts[3]  # same prompt, same text
    assert result.texts[0] != result.texts[1]
    assert result.model_name == f"{SUMMARIZER_MODEL_NAME}/tiny-llama"
    assert result.model_version == "1"
    assert result.latency_ms > 0


def test_concurrent_requests_get_their_own_answers(
    triton_server: TritonServer, in_process: Summarizer
) -> None:
    prompts = sample_prompts()[:3]
    expected = in_process.summarize(prompts)

    async def run() -> list[SummaryResult]:
        client = SummarizerClient(triton_server.grpc_url)
        try:
            return list(await asyncio.gather(*(client.summarize([p]) for p in prompts)))
        finally:
            await client.close()

    assert [r.texts for r in asyncio.run(run())] == [[text] for text in expected]


def test_bad_requests_are_rejected_and_server_keeps_serving(triton_server: TritonServer) -> None:
    url = triton_server.grpc_url
    with pytest.raises(ScoringRejected, match="prompts must not be empty"):
        asyncio.run(summarize(url, []))
    with pytest.raises(ScoringRejected, match="prompt 1 is blank"):
        asyncio.run(summarize(url, ["ok", " "]))
    with pytest.raises(ScoringRejected, match="257 prompts exceed max_prompts=256"):
        asyncio.run(summarize(url, ["x"] * 257))
    with pytest.raises(ScoringRejected, match=r"prompt 0 has \d+ tokens, above max_prompt_tokens=2048"):
        asyncio.run(summarize(url, ["word " * 3000]))
    # Not something our client can send: invalid UTF-8, straight through tritonclient.
    asyncio.run(_send_invalid_utf8(url))
    assert len(asyncio.run(summarize(url, sample_prompts()[:1])).texts) == 1


async def _send_invalid_utf8(url: str) -> None:
    client = grpcclient.InferenceServerClient(url)
    try:
        prompts = grpcclient.InferInput(PROMPTS.name, [1], "BYTES")
        prompts.set_data_from_numpy(np.array([b"\xff\xfe"], dtype=np.object_))
        with pytest.raises(InferenceServerException, match="not valid UTF-8") as caught:
            await client.infer(SUMMARIZER_MODEL_NAME, [prompts])
        assert caught.value.status() == "StatusCode.INVALID_ARGUMENT"
    finally:
        await client.close()


def test_is_ready_reconnects_after_close(triton_server: TritonServer) -> None:
    async def run() -> tuple[bool, bool]:
        client = SummarizerClient(triton_server.grpc_url)
        first = await client.is_ready()
        await client.close()
        second = await client.is_ready()  # reconnects lazily
        await client.close()
        await client.close()  # idempotent
        return first, second

    assert asyncio.run(run()) == (True, True)


def test_unknown_model_and_dead_server_are_unavailable(triton_server: TritonServer) -> None:
    with pytest.raises(ScoringUnavailable, match="nope"):
        asyncio.run(summarize(triton_server.grpc_url, ["hi"], model_name="nope"))
    (dead_port,) = free_ports(1)
    dead = f"127.0.0.1:{dead_port}"
    with pytest.raises(ScoringUnavailable):
        asyncio.run(summarize(dead, ["hi"], timeout_s=5.0))

    async def ready() -> bool:
        client = SummarizerClient(dead, timeout_s=5.0)
        try:
            return await client.is_ready()
        finally:
            await client.close()

    assert asyncio.run(ready()) is False


def test_client_validates_its_arguments() -> None:
    with pytest.raises(ValueError, match="SummarizerClient.url must be 'host:port'"):
        SummarizerClient("grpc://localhost:8001")
    with pytest.raises(ValueError, match="SummarizerClient.timeout_s must be > 0, got 0"):
        SummarizerClient("localhost:8001", timeout_s=0)
    client = SummarizerClient("localhost:8001")
    assert (client.url, client.model_name, client.timeout_s) == ("localhost:8001", "summarizer", 120.0)
