"""The launcher fails early and clearly: taken ports, a model that cannot load, bad config."""

import socket
from pathlib import Path

import pytest

from serving.exceptions import PortInUse, TritonNotHealthy
from serving.launcher import DEFAULT_MODEL_REPOSITORY, TritonConfig, TritonServer
from tests.fixtures.triton import free_ports


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


def test_port_in_use_is_reported_before_spawning(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        server = TritonServer(config(tmp_path, grpc_port=port))
        with pytest.raises(PortInUse, match=f"port {port}") as caught:
            server.start()
    assert caught.value.port == port
    assert not server.log_path.exists()  # nothing was started
    server.stop()  # harmless when never started


def test_model_that_cannot_load_raises_with_log_tail(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    server = TritonServer(config(tmp_path, model_path=missing))
    with server, pytest.raises(TritonNotHealthy, match="exited") as caught:
        server.wait_ready(timeout_s=120)
    assert "is not a directory" in str(caught.value)  # the model's own error, from the log
    server.stop()  # idempotent


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"http_port": 0}, "http_port.*0"),
        ({"grpc_port": 70000}, "grpc_port.*70000"),
        ({"http_port": 9000, "grpc_port": 9000}, "distinct"),
        ({"torch_threads": 0}, "torch_threads.*0"),
    ],
)
def test_config_validation(tmp_path: Path, overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        config(tmp_path, **overrides)


def test_urls(tmp_path: Path) -> None:
    cfg = config(tmp_path, http_port=18000, grpc_port=18001, metrics_port=18002)
    server = TritonServer(cfg)
    assert server.grpc_url == "127.0.0.1:18001"
    assert server.http_url == "http://127.0.0.1:18000"
    assert server.metrics_url == "http://127.0.0.1:18002/metrics"


def test_metrics_endpoint_is_served(triton_server: TritonServer) -> None:
    import urllib.request

    with urllib.request.urlopen(triton_server.metrics_url, timeout=5) as response:
        body = response.read().decode()
    assert 'nv_inference_request_success{model="recommender"' in body
