"""The benchmark CLI runs end to end and reports agreement between the two scoring paths."""

from pathlib import Path

import pytest

from serving.bench.scoring import main, sample_request
from serving.launcher import TritonServer


def test_sample_request_shares_one_context() -> None:
    context, candidates = sample_request(20)
    assert len(candidates) == 20 and context.count("rated") == 10
    assert all(c.endswith("### Response:\n") for c in candidates)


def test_bench_in_process_and_through_triton(
    tiny_model_dir: Path, triton_server: TritonServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "--model-path",
            str(tiny_model_dir),
            "--candidates",
            "5",
            "--repeats",
            "1",
            "--triton-url",
            triton_server.grpc_url,
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    for label in ("naive batch", "prefix-cached", "speed-up", "max |diff|", "triton round trip"):
        assert label in out
    assert "recommender/tiny-llama" in out


def test_bench_fails_when_paths_disagree(tiny_model_dir: Path) -> None:
    # A negative tolerance can never be met, so this exercises the non-zero exit path.
    assert main(["--model-path", str(tiny_model_dir), "--repeats", "1", "--tolerance", "-1"]) == 1
