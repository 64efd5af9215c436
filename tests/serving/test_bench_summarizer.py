"""The summarizer benchmark: realistic prompts, and an end-to-end run against the session's Triton."""

import json
from pathlib import Path

import pytest

from serving.bench.summarizer import main, sample_prompts
from serving.launcher import TritonServer


def test_sample_prompts_are_distinct_recurrent_updates() -> None:
    prompts = sample_prompts(20)
    assert len(set(prompts)) == 20
    assert sample_prompts(20) == prompts  # seeded: every run benchmarks the same work
    for prompt in prompts:
        assert "summary of a user's preferences so far" in prompt  # a previous summary is given
        assert "5. " in prompt and "6. " not in prompt  # a block of 5
    assert any("/5" in p for p in prompts)  # ratings on their scale


def test_bench_through_triton_writes_table_json_and_chart(
    triton_server: TritonServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    code = main(
        ["--triton-url", triton_server.grpc_url, "--requests", "2", "--batch-sizes", "1,3", "--out", str(out)]
    )
    stdout = capsys.readouterr().out
    assert code == 0, stdout
    assert "summarizer/tiny-llama" in stdout and "summaries/s" in stdout and "p95 ms" in stdout
    report = json.loads((out / "results.json").read_text())
    assert [r["batch_size"] for r in report["results"]] == [1, 3]
    for result in report["results"]:
        assert result["requests"] == 2 and len(result["latencies_ms"]) == 2
        assert result["summaries"] == 2 * result["batch_size"]
        assert 0 < result["latency_p50_ms"] <= result["latency_p95_ms"] <= max(result["latencies_ms"])
        assert result["summaries_per_s"] > 0
    assert len(report["examples"]) == 3
    assert (out / "summarizer-bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["--requests", "0"],
        ["--batch-sizes", "1,x"],
        ["--batch-sizes", "0"],
        ["--triton-url", "localhost:8001", "--model-path", "/m"],
    ],
)
def test_bad_arguments_exit_with_usage_error(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
