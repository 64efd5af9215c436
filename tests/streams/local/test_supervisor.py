"""`streamrec up` refuses to start when a port it needs is taken, before starting anything."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from streams.exceptions import PortInUse
from streams.local import Stack
from streams.settings import Settings


def test_taken_port_fails_fast_with_the_port_named(tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        settings = Settings(data_dir=tmp_path, broker_port=port, web_port=port + 1 if port < 65535 else 1024)
        stack = Stack(settings)
        with pytest.raises(PortInUse, match=rf"Kafka broker 127\.0\.0\.1:{port}"):
            stack.start()
    assert stack.broker is None and stack.triton is None and stack.worker is None


def test_configured_cluster_and_triton_ports_are_not_checked(tmp_path: Path) -> None:
    """With KAFKA_BOOTSTRAP_SERVERS and TRITON_URL set, only the worker's own port matters."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        settings = Settings(
            data_dir=tmp_path, bootstrap_servers="kafka:9092", triton_url="triton:8001", web_port=port
        )
        with pytest.raises(PortInUse, match=r"worker web"):
            Stack(settings).start()
        settings = Settings(
            data_dir=tmp_path, bootstrap_servers="kafka:9092", triton_url="triton:8001", broker_port=port
        )
        Stack(settings)._check_ports()  # the embedded broker's port is irrelevant here
