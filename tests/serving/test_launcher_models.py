"""Launcher options for the summarizer: load only some models, a separate summarizer model."""

import asyncio
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from models.summarizer import GenerationConfig, Summarizer
from serving.exceptions import TritonNotHealthy
from serving.launcher import DEFAULT_MODEL_REPOSITORY, TritonConfig, TritonServer
from serving.settings import ENV_SUMMARY_MAX_NEW_TOKENS
from serving.summarizer_client import SummarizerClient
from tests.fixtures.triton import READY_TIMEOUT_S, free_ports


def config(tmp_path: Path, **overrides: object) -> TritonConfig:
    http, grpc, metrics = free_ports(3)
    values: dict[str, object] = {
        "model_repository": DEFAULT_MODEL_REPOSITORY,
        "data_dir": tmp_path / "data",
        "http_port": http,
        "grpc_port": grpc,
        "metrics_port": metrics,
    }
    values.update(overrides)
    return TritonConfig(**values)  # type: ignore[arg-type]


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_only_the_summarizer_with_its_own_model_and_token_limit(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A relative data dir, as the benchmark's default ".streamrec" is: the server runs with
    # cwd=data_dir, so every path handed to it must be absolute (a regression test).
    monkeypatch.chdir(tmp_path)
    # No model_path: a recommender, were it loaded, would convert and load SmolLM2 instead.
    cfg = config(
        Path("relative"),
        summarizer_model_path=tiny_model_dir,
        models=("summarizer",),
        extra_env={ENV_SUMMARY_MAX_NEW_TOKENS: "3", "STREAMREC_MODEL_PATH": ""},
    )
    prompts = ["Summarize: the user liked Heat (1995).", "Hi"]
    with TritonServer(cfg) as server:
        server.wait_ready(timeout_s=READY_TIMEOUT_S, models=("summarizer",))
        assert http_status(f"{server.http_url}/v2/models/recommender/ready") != 200

        async def run() -> list[str]:
            client = SummarizerClient(server.grpc_url)
            try:
                return (await client.summarize(prompts)).texts
            finally:
                await client.close()

        served = asyncio.run(run())
    expected = Summarizer.from_pretrained(tiny_model_dir, GenerationConfig(max_new_tokens=3)).summarize(
        prompts
    )
    assert served == expected  # the environment's max_new_tokens reached the model


@pytest.mark.parametrize("models", [(), ("",), ["summarizer"]])
def test_models_must_be_a_non_empty_tuple_of_names(tmp_path: Path, models: object) -> None:
    with pytest.raises(ValueError, match="TritonConfig.models must be None or a non-empty tuple"):
        config(tmp_path, models=models)


def test_unknown_model_is_reported_before_spawning(tmp_path: Path) -> None:
    server = TritonServer(config(tmp_path, models=("summarizer", "nope")))
    with pytest.raises(TritonNotHealthy, match=r"models \['nope'\] have no config.pbtxt"):
        server.start()
    assert not server.running()
