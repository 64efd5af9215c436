"""``streamrec up``: start the broker, Triton and the worker, watch them, stop them in order.

Start order is dependency order (broker -> topics -> Triton -> worker) and every step waits for
health before the next, so a failure names the part that failed instead of surfacing later as
a timeout somewhere else. Ports are checked before anything starts. Stop order is the reverse:
the worker first (it commits its last batch while Kafka and Triton are still there).

Children run in their own sessions, so Ctrl-C reaches only the supervisor, which then stops
them cleanly.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType

from serving.launcher import DEFAULT_MODEL_REPOSITORY, TritonConfig, TritonServer
from streams.exceptions import PortInUse, StartupError
from streams.kafka import ensure_topics
from streams.local.broker import TansuBroker, port_is_free
from streams.settings import Settings

__all__ = ["Endpoints", "Stack", "worker_ready"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Endpoints:
    bootstrap: str
    triton_grpc: str
    triton_http: str | None
    triton_metrics: str | None
    worker: str
    data_dir: Path
    logs: Path
    embedded_broker: bool
    embedded_triton: bool


class Stack:
    """The whole local stack as one start/stop unit."""

    def __init__(self, settings: Settings, *, model_cache_dir: Path | None = None) -> None:
        self.settings = settings
        self.data_dir = settings.data_dir.resolve()
        # The converted default model is cached here; the demo shares it across runs.
        self.model_cache_dir = (model_cache_dir or settings.data_dir).resolve()
        self.logs = self.data_dir / "logs"
        self.broker: TansuBroker | None = None
        self.triton: TritonServer | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.trainer: subprocess.Popen[bytes] | None = None
        self.endpoints: Endpoints | None = None

    # -- start -----------------------------------------------------------------------------

    def _check_ports(self) -> None:
        s = self.settings
        wanted: list[tuple[str, str, int]] = [("worker web", s.web_host, s.web_port)]
        if s.bootstrap_servers is None:
            wanted.append(("Kafka broker", s.broker_host, s.broker_port))
        if s.triton_url is None:
            wanted += [
                ("Triton HTTP", s.triton_host, s.triton_http_port),
                ("Triton gRPC", s.triton_host, s.triton_grpc_port),
                ("Triton metrics", s.triton_host, s.triton_metrics_port),
            ]
        taken = [f"{what} {host}:{port}" for what, host, port in wanted if not port_is_free(host, port)]
        if taken:
            raise PortInUse(
                "ports already in use: " + ", ".join(taken) + ". Stop the process using them, "
                "or point streamrec elsewhere (KAFKA_BOOTSTRAP_SERVERS, TRITON_URL, STREAMREC_*_PORT)."
            )

    def start(
        self, *, worker_timeout_s: float = 180.0, triton_timeout_s: float = 600.0, trainer: bool = True
    ) -> Endpoints:
        s = self.settings
        self._check_ports()
        self.logs.mkdir(parents=True, exist_ok=True)
        try:
            bootstrap = s.bootstrap
            if s.bootstrap_servers is None:
                self.broker = TansuBroker(s.broker_host, s.broker_port, log_path=self.logs / "tansu.log")
                self.broker.start()
            ensure_topics(bootstrap, s.partitions, s.replication_factor, security=s.kafka_security)

            triton_http = triton_metrics = None
            if s.triton_url is None:
                self.triton = TritonServer(
                    TritonConfig(
                        model_repository=DEFAULT_MODEL_REPOSITORY,
                        data_dir=self.model_cache_dir,
                        host=s.triton_host,
                        http_port=s.triton_http_port,
                        grpc_port=s.triton_grpc_port,
                        metrics_port=s.triton_metrics_port,
                        model_path=s.model_path,
                        log_path=self.logs / "tritonserver.log",
                        # The worker's adapter sets, wherever the model cache is.
                        extra_env={"STREAMREC_ADAPTERS_DIR": str(self.data_dir / "adapters")},
                    )
                )
                self.triton.start()
                models = ("recommender", "summarizer") if s.summary_block > 0 else ("recommender",)
                self.triton.wait_ready(timeout_s=triton_timeout_s, models=models)
                triton_http, triton_metrics = self.triton.http_url, self.triton.metrics_url
            triton_grpc = s.triton_grpc

            self._start_worker(bootstrap, triton_grpc, worker_timeout_s)
            if trainer:
                self._start_trainer(bootstrap, triton_grpc)
        except BaseException:  # including Ctrl-C during start-up: leave nothing running
            self.stop()
            raise
        self.endpoints = Endpoints(
            bootstrap=bootstrap,
            triton_grpc=triton_grpc,
            triton_http=triton_http,
            triton_metrics=triton_metrics,
            worker=s.web_url,
            data_dir=self.data_dir,
            logs=self.logs,
            embedded_broker=self.broker is not None,
            embedded_triton=self.triton is not None,
        )
        return self.endpoints

    def worker_env(self, bootstrap: str, triton_grpc: str) -> dict[str, str]:
        s = self.settings
        return {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "TRITON_URL": triton_grpc,
            "STREAMREC_DATA_DIR": str(self.data_dir),
            "STREAMREC_WEB_PORT": str(s.web_port),
            "STREAMREC_PARTITIONS": str(s.partitions),
            "STREAMREC_LOG_LEVEL": s.log_level,
        }

    def _start_worker(self, bootstrap: str, triton_grpc: str, timeout_s: float) -> None:
        log_file = open(self.logs / "worker.log", "ab")  # noqa: SIM115 - owned by the child
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "streams.worker"],
            env=self.worker_env(bootstrap, triton_grpc),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log_file.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.worker.poll() is not None:
                raise StartupError(
                    f"worker exited with code {self.worker.returncode} during start-up; "
                    f"see {self.logs / 'worker.log'}:\n{_tail(self.logs / 'worker.log')}"
                )
            if worker_ready(self.settings.web_url):
                return
            time.sleep(0.3)
        raise StartupError(
            f"worker did not become ready within {timeout_s:.0f}s; see {self.logs / 'worker.log'}"
        )

    def _start_trainer(self, bootstrap: str, triton_grpc: str) -> None:
        """The unlearning and refresh scheduler, in its own process (it trains on the CPU)."""
        from models.loading import resolve_model_dir

        env = self.worker_env(bootstrap, triton_grpc)
        # The model Triton converted, wherever the cache is (no second conversion).
        env["STREAMREC_MODEL_PATH"] = str(resolve_model_dir(self.model_cache_dir, self.settings.model_path))
        log_file = open(self.logs / "trainer.log", "ab")  # noqa: SIM115 - owned by the child
        self.trainer = subprocess.Popen(
            [sys.executable, "-m", "streams.training.scheduler"],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log_file.close()

    # -- run -------------------------------------------------------------------------------

    def failed_part(self) -> str | None:
        """Name of a child that died, if any."""
        if self.worker is not None and self.worker.poll() is not None:
            return f"worker (exit code {self.worker.returncode})"
        if self.trainer is not None and self.trainer.poll() is not None:
            return f"trainer (exit code {self.trainer.returncode})"
        if self.triton is not None and not self.triton.running():
            return "tritonserver"
        if self.broker is not None and not self.broker.running():
            return "tansu broker"
        return None

    def run_until_signal(self) -> int:
        """Block until SIGINT/SIGTERM (exit 0) or until a child dies (exit 1)."""
        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            while not stop.wait(0.5):
                failed = self.failed_part()
                if failed:
                    log.error("%s stopped unexpectedly; shutting down the stack", failed)
                    return 1
            return 0
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    # -- stop ------------------------------------------------------------------------------

    def stop_worker(self, timeout_s: float = 30.0) -> None:
        worker, self.worker = self.worker, None
        if worker is None or worker.poll() is not None:
            return
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("worker did not stop within %.0fs; killing it", timeout_s)
            worker.kill()
            worker.wait()

    def stop_trainer(self, timeout_s: float = 10.0) -> None:
        """SIGTERM, then SIGKILL: a trainer killed mid-retrain resumes on its next start."""
        trainer, self.trainer = self.trainer, None
        if trainer is None or trainer.poll() is not None:
            return
        trainer.send_signal(signal.SIGTERM)
        try:
            trainer.wait(timeout_s)
        except subprocess.TimeoutExpired:
            trainer.kill()
            trainer.wait()

    def stop(self) -> None:
        self.stop_trainer()
        self.stop_worker()
        if self.triton is not None:
            self.triton.stop()
            self.triton = None
        if self.broker is not None:
            self.broker.stop()
            self.broker = None

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def worker_ready(web_url: str) -> bool:
    """True once the worker's consumer owns its input partitions."""
    try:
        with urllib.request.urlopen(f"{web_url}/ready/", timeout=2) as response:
            return bool(json.loads(response.read()).get("ready"))
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""
