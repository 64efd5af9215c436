"""The worker and the trainer as child processes that a caller can start, stop, kill and restart.

The end-to-end tests and the fault-injection suite (``streams.chaos``) both run the real
processes (``python -m streams.worker``, ``python -m streams.training.scheduler``) rather than
in-process stand-ins, because what they check is what survives a SIGKILL, and only a separate
process can be killed like a crashed machine. One implementation keeps the two from drifting:
the tests' fixtures subclass these classes (with faster test settings) and the chaos suite uses
them as they are. ``streamrec up`` keeps its own start-up in ``supervisor`` (it also owns the
broker and Triton, and puts every child in its own session).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from serving.launcher import free_ports
from streams.exceptions import StartupError, StreamrecError
from streams.local.supervisor import worker_ready

__all__ = ["TrainerProcess", "WorkerProcess", "free_port"]

_LOG_TAIL_CHARS = 4000


def free_port() -> int:
    """One TCP port on 127.0.0.1 that is free right now."""
    return free_ports(1)[0]


def _tail(path: Path, chars: int) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(handle.tell() - chars, 0))
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


class _Child:
    """A ``python -m <module>`` child whose output is appended to one log across restarts."""

    module: str = ""

    def __init__(self, env: Mapping[str, str], log_path: Path) -> None:
        self.env = dict(env)
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def spawn(self) -> None:
        """Start the process and return at once (a second spawn while it runs is an error)."""
        if self.proc is not None and self.proc.poll() is None:
            raise StartupError(f"{self.module} is already running (pid {self.proc.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.module], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exit_code(self) -> int | None:
        """The exit status once the process ended on its own (None while it runs or if never started)."""
        return None if self.proc is None else self.proc.poll()

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, like a crashed machine."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout_s`` (and an error: a graceful stop was promised)."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise StreamrecError(f"{self.module} ignored SIGTERM for {timeout_s:.0f} s; killed") from None

    def log_tail(self, chars: int = _LOG_TAIL_CHARS) -> str:
        return _tail(self.log_path, chars)


class WorkerProcess(_Child):
    """``python -m streams.worker`` against a given broker and Triton, with its own data dir."""

    module = "streams.worker"

    def __init__(
        self,
        data_dir: Path,
        bootstrap: str,
        triton_grpc: str,
        *,
        env: Mapping[str, str] | None = None,
        web_port: int | None = None,
        log_path: Path | None = None,
        partitions: int = 4,
    ) -> None:
        self.data_dir = data_dir
        self.web_port = web_port if web_port is not None else free_port()
        super().__init__(
            {
                **os.environ,
                "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "TRITON_URL": triton_grpc,
                "STREAMREC_DATA_DIR": str(data_dir),
                "STREAMREC_WEB_PORT": str(self.web_port),
                "STREAMREC_PARTITIONS": str(partitions),
                **(env or {}),
            },
            log_path if log_path is not None else data_dir / "worker.log",
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def start(self, timeout_s: float = 90.0) -> float:
        """Spawn and wait until the consumer owns its partitions; returns the seconds it took."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        self.spawn()
        self.wait_ready(timeout_s)
        return time.monotonic() - started

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                code = None if self.proc is None else self.proc.returncode
                raise StartupError(f"worker exited ({code}) before it was ready:\n{self.log_tail()}")
            if worker_ready(self.url):
                return
            time.sleep(0.3)
        raise StartupError(f"worker not ready after {timeout_s:.0f} s:\n{self.log_tail()}")

    def status(self, timeout_s: float = 10.0) -> dict[str, Any]:
        """The worker's ``/status/`` page (table counts, pending users, stored offsets)."""
        with urllib.request.urlopen(f"{self.url}/status/", timeout=timeout_s) as response:
            body: dict[str, Any] = json.loads(response.read())
            return body

    def interactions(self) -> int:
        return int(self.status()["tables"]["interactions"])


class TrainerProcess(_Child):
    """``python -m streams.training.scheduler`` next to a worker: its data dir and web port."""

    module = "streams.training.scheduler"

    def __init__(
        self,
        data_dir: Path,
        web_port: int,
        model_dir: Path,
        *,
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
    ) -> None:
        super().__init__(
            {
                **os.environ,
                "STREAMREC_DATA_DIR": str(data_dir),
                "STREAMREC_WEB_PORT": str(web_port),
                "STREAMREC_MODEL_PATH": str(model_dir),
                **(env or {}),
            },
            log_path if log_path is not None else data_dir / "trainer.log",
        )

    def start(self) -> None:
        """The trainer has no health endpoint: it is up once spawned (its log says what it does)."""
        self.spawn()

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM, then SIGKILL: a trainer killed mid-retrain resumes on its next start, so a
        slow stop is not an error here."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
