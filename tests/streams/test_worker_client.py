"""call_worker against a real local HTTP server: the answer is decoded and errors are typed.

The trainer retries on ``WorkerUnavailable`` and gives up on ``WorkerRefused`` (printing the
worker's reason), so mixing the two up either loops forever or gives up on a restart.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from streams.worker_client import WorkerRefused, WorkerUnavailable, call_worker

received: list[tuple[str, str, Any]] = []  # (method, path, decoded body) seen by the server


class Handler(BaseHTTPRequestHandler):
    def _answer(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _route(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        received.append((method, self.path, json.loads(raw) if raw else None))
        if self.path == "/ok/":
            self._answer(200, json.dumps({"active": [], "high_water": 7}).encode())
        elif self.path == "/echo/":
            self._answer(200, raw or b"null")
        elif self.path == "/missing/":
            self._answer(404, b'{"error": "no readable adapter set \'v0009\'"}')
        elif self.path == "/broken/":
            self._answer(500, b"internal trouble", "text/plain")
        elif self.path == "/slow/":
            time.sleep(2)
            self._answer(200, b"{}")
        else:
            self._answer(400, b"bad path")

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep pytest output clean


@pytest.fixture
def worker() -> Iterator[str]:
    """The base URL of a local server that answers like the worker."""
    received.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens there any more


def test_a_200_answer_is_decoded(worker: str) -> None:
    assert call_worker(worker, "/ok/") == {"active": [], "high_water": 7}
    assert received == [("GET", "/ok/", None)]


def test_a_payload_is_posted_as_json(worker: str) -> None:
    payload = {"version": "v0002", "detail": {"seconds": 1.5}}
    assert call_worker(worker, "/echo/", payload) == payload
    assert received == [("POST", "/echo/", payload)]


def test_a_4xx_raises_refused_with_the_workers_reason(worker: str) -> None:
    with pytest.raises(WorkerRefused) as caught:
        call_worker(worker, "/missing/")
    message = str(caught.value)
    assert "/missing/" in message and "HTTP 404" in message
    assert "no readable adapter set 'v0009'" in message


def test_a_5xx_raises_refused_too(worker: str) -> None:
    with pytest.raises(WorkerRefused, match="HTTP 500: internal trouble"):
        call_worker(worker, "/broken/", {"x": 1})


def test_refused_is_not_unavailable(worker: str) -> None:
    """A caller that retries on WorkerUnavailable must not retry a refusal."""
    with pytest.raises(WorkerRefused) as caught:
        call_worker(worker, "/missing/")
    assert not isinstance(caught.value, WorkerUnavailable)


def test_a_closed_port_raises_unavailable() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(WorkerUnavailable, match="worker not reachable at") as caught:
        call_worker(url, "/ok/", timeout_s=5)
    assert url in str(caught.value)


def test_a_slow_worker_raises_unavailable(worker: str) -> None:
    with pytest.raises(WorkerUnavailable):
        call_worker(worker, "/slow/", timeout_s=0.2)
