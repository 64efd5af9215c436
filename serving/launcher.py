"""Run the tritonserver binary shipped in ``nvidia-pytriton`` as a local child process.

Used by tests, the benchmark and local development; production runs Triton from NVIDIA's
container instead (see deploy/). The wheel ships the server and the python backend but not
in the layout tritonserver expects, so ``start`` first assembles a backend directory under
the data dir. The child gets the environment the python backend stub needs: this
interpreter's libpython first on ``LD_LIBRARY_PATH`` (otherwise the stub may load the
system's libpython and fail with ``undefined symbol``), and a ``PYTHONPATH`` that exposes
this venv and the project to ``model.py``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from serving.exceptions import PortInUse, TritonNotHealthy
from serving.settings import ENV_DATA_DIR, ENV_MODEL_PATH, ENV_SUMMARIZER_MODEL_PATH, ENV_TORCH_THREADS

__all__ = [
    "ALL_MODELS",
    "DEFAULT_MODEL_REPOSITORY",
    "TritonConfig",
    "TritonServer",
    "free_ports",
    "pytriton_home",
]

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_REPOSITORY = Path(__file__).resolve().parent / "model_repository"
# Every model in DEFAULT_MODEL_REPOSITORY; Triton loads them all at start.
ALL_MODELS: tuple[str, ...] = ("recommender", "summarizer")
_LOG_TAIL_CHARS = 4000
_LOG_SCAN_CHARS = 256_000
_MAX_ERROR_LINES = 10
_ERROR_LINE = re.compile(r"^E\d{4} ")  # glog severity E, then MMDD
# Printed on every start of a CPU-only server; they say nothing about the failure.
_HARMLESS_ERRORS = ("CudaDriverHelper", "NVML", "DCGM", "nvml", "dcgm")


@dataclass(frozen=True)
class TritonConfig:
    model_repository: Path
    data_dir: Path  # backend dir, default log and the converted model live here
    host: str = "127.0.0.1"
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    model_path: Path | None = None  # exported as STREAMREC_MODEL_PATH for the server
    log_path: Path | None = None  # default: <data_dir>/tritonserver.log
    extra_env: Mapping[str, str] = field(default_factory=dict)
    torch_threads: int | None = None  # exported as STREAMREC_TORCH_THREADS
    # Exported as STREAMREC_SUMMARIZER_MODEL_PATH. None: not set here, so the summarizer uses
    # the same LM as the recommender (unless this process's own environment sets it).
    summarizer_model_path: Path | None = None
    # Models to load. None: every model in the repository. Otherwise Triton runs in explicit
    # model-control mode and loads only these (a benchmark of one model need not wait for,
    # or share memory with, the others).
    models: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        ports = {"http_port": self.http_port, "grpc_port": self.grpc_port, "metrics_port": self.metrics_port}
        for name, port in ports.items():
            if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
                raise ValueError(f"TritonConfig.{name} must be a port in 1..65535, got {port!r}")
        if len(set(ports.values())) != len(ports):
            raise ValueError(f"TritonConfig ports must be distinct, got {ports!r}")
        if self.torch_threads is not None and self.torch_threads < 1:
            raise ValueError(f"TritonConfig.torch_threads must be >= 1 or None, got {self.torch_threads!r}")
        if self.models is not None and (
            not isinstance(self.models, tuple) or not self.models or not all(self.models)
        ):
            raise ValueError(
                f"TritonConfig.models must be None or a non-empty tuple of names, got {self.models!r}"
            )


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct ports that are free right now (held open together while picked)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


def pytriton_home() -> Path:
    """``<site-packages>/pytriton/tritonserver`` (found without importing pytriton)."""
    import importlib.util

    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        raise TritonNotHealthy("nvidia-pytriton is not installed; it provides tritonserver")
    return Path(list(spec.submodule_search_locations)[0]) / "tritonserver"


def _port_taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Like the servers themselves: a port whose old connections sit in TIME_WAIT (a
        # server just restarted) is free; only a live socket on it counts as taken.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


class TritonServer:
    """A tritonserver child process. ``with TritonServer(cfg) as s: s.wait_ready()``."""

    def __init__(self, config: TritonConfig) -> None:
        self.config = config
        self.log_path = config.log_path or config.data_dir / "tritonserver.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs (benchmarks read its peak RSS)."""
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    @property
    def grpc_url(self) -> str:
        return f"{self.config.host}:{self.config.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.config.host}:{self.config.http_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.config.host}:{self.config.metrics_port}/metrics"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Spawn tritonserver; returns at once (see ``wait_ready``)."""
        if self._process is not None and self._process.poll() is None:
            raise TritonNotHealthy(f"tritonserver already running (pid {self._process.pid})")
        cfg = self.config
        # 1. Fail fast and clearly on a taken port, instead of a half-started server.
        for port in (cfg.http_port, cfg.grpc_port, cfg.metrics_port):
            if _port_taken(cfg.host, port):
                raise PortInUse(port, cfg.host)
        if not any(cfg.model_repository.glob("*/config.pbtxt")):
            raise TritonNotHealthy(f"no model with a config.pbtxt under {cfg.model_repository}")
        missing = [m for m in cfg.models or () if not (cfg.model_repository / m / "config.pbtxt").is_file()]
        if missing:
            raise TritonNotHealthy(f"models {missing} have no config.pbtxt under {cfg.model_repository}")
        home = pytriton_home()
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        backends = self._backend_dir(home)
        command = [
            str(home / "bin" / "tritonserver"),
            f"--model-repository={cfg.model_repository.resolve()}",
            f"--backend-directory={backends}",
            f"--http-address={cfg.host}",
            f"--http-port={cfg.http_port}",
            f"--grpc-address={cfg.host}",
            f"--grpc-port={cfg.grpc_port}",
            f"--metrics-address={cfg.host}",
            f"--metrics-port={cfg.metrics_port}",
            "--allow-gpu-metrics=false",  # CPU-only; avoids probing NVML for GPU metrics
            "--exit-timeout-secs=10",  # bound shutdown while requests are in flight
        ]
        if cfg.models is not None:
            command.append("--model-control-mode=explicit")
            command += [f"--load-model={name}" for name in cfg.models]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log.info("starting tritonserver: grpc %s, log %s", self.grpc_url, self.log_path)
        # The child keeps its own copy of the log fd; ours can close right away.
        with open(self.log_path, "ab") as log_file:
            # 2. A new session, so stop() can signal the server and its backend stubs together.
            self._process = subprocess.Popen(
                command,
                env=self._environment(home),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=cfg.data_dir,
                start_new_session=True,
            )

    def wait_ready(self, timeout_s: float = 300.0, models: Sequence[str] = ("recommender",)) -> None:
        """Block until the server and ``models`` are ready, or raise ``TritonNotHealthy``."""
        if self._process is None:
            raise TritonNotHealthy("tritonserver was not started")
        deadline = time.monotonic() + timeout_s
        urls = [f"{self.http_url}/v2/health/ready"]
        urls += [f"{self.http_url}/v2/models/{name}/ready" for name in models]
        while True:
            code = self._process.poll()
            if code is not None:
                raise TritonNotHealthy(
                    f"tritonserver exited with code {code} before it was ready; "
                    f"log {self.log_path}:\n{self._failure_report()}"
                )
            if all(_http_ok(url) for url in urls):
                log.info("tritonserver ready at %s", self.grpc_url)
                return
            if time.monotonic() > deadline:
                self.stop()
                raise TritonNotHealthy(
                    f"tritonserver not ready after {timeout_s:.0f} s (models {list(models)}); "
                    f"log {self.log_path}:\n{self._failure_report()}"
                )
            time.sleep(0.25)

    def running(self) -> bool:
        """True while the tritonserver child process is alive."""
        return self._process is not None and self._process.poll() is None

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout_s``. Safe to call repeatedly."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("tritonserver pid %d ignored SIGTERM for %.0f s; killing", process.pid, timeout_s)
            self._kill_group(process)
            process.wait(timeout=10)
        # Stubs normally exit with the server; make sure none outlives it.
        self._kill_group(process)

    def log_tail(self, chars: int = _LOG_TAIL_CHARS) -> str:
        try:
            with open(self.log_path, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                handle.seek(max(handle.tell() - chars, 0))
                return handle.read().decode("utf-8", errors="replace")
        except OSError as exc:
            return f"<cannot read log: {exc}>"

    def _failure_report(self) -> str:
        """Triton's error lines (a model's load error scrolls out of the tail behind the
        status tables) followed by the log tail."""
        text = self.log_tail(_LOG_SCAN_CHARS)
        errors = [
            line
            for line in text.splitlines()
            if _ERROR_LINE.match(line) and not any(h in line for h in _HARMLESS_ERRORS)
        ]
        report = "\n".join(errors[-_MAX_ERROR_LINES:])
        tail = text[-_LOG_TAIL_CHARS:]
        return f"{report}\n--- log tail ---\n{tail}" if report else tail

    def __enter__(self) -> TritonServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _kill_group(process: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # our own session: pgid == the server's pid

    def _backend_dir(self, home: Path) -> Path:
        """``<data_dir>/backends/python`` with the backend library, utils and the 3.11 stub."""
        # Absolute: tritonserver runs with cwd=data_dir, so a relative data dir given here
        # would otherwise be resolved twice (``.streamrec/.streamrec/backends``).
        target = self.config.data_dir.resolve() / "backends" / "python"
        target.mkdir(parents=True, exist_ok=True)
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        sources = {
            "libtriton_python.so": home / "backends" / "python" / "libtriton_python.so",
            "triton_python_backend_utils.py": home / "backends" / "python" / "triton_python_backend_utils.py",
            "triton_python_backend_stub": home
            / "python_backend_stubs"
            / version
            / "triton_python_backend_stub",
        }
        for name, source in sources.items():
            if not source.is_file():
                raise TritonNotHealthy(f"nvidia-pytriton is missing {source}")
            link = target / name
            if link.is_symlink() or link.exists():
                if link.resolve() == source.resolve():
                    continue
                link.unlink()
            link.symlink_to(source)
        return target.parent

    def _environment(self, home: Path) -> dict[str, str]:
        cfg = self.config
        env = dict(os.environ)
        site_packages = sysconfig.get_paths()["purelib"]
        libs = [str(Path(sys.base_prefix) / "lib"), str(home.parent.parent / "nvidia_pytriton.libs")]
        if env.get("LD_LIBRARY_PATH"):
            libs.append(env["LD_LIBRARY_PATH"])
        env["LD_LIBRARY_PATH"] = os.pathsep.join(libs)
        paths = [site_packages, str(PROJECT_ROOT)]
        if env.get("PYTHONPATH"):
            paths.append(env["PYTHONPATH"])
        env["PYTHONPATH"] = os.pathsep.join(paths)
        env[ENV_DATA_DIR] = str(cfg.data_dir.resolve())
        env["HF_HUB_OFFLINE"] = "1"  # model.py loads local files only; make that a hard rule
        env["TRANSFORMERS_OFFLINE"] = "1"
        if cfg.model_path is not None:
            env[ENV_MODEL_PATH] = str(cfg.model_path.resolve())
        if cfg.summarizer_model_path is not None:
            env[ENV_SUMMARIZER_MODEL_PATH] = str(cfg.summarizer_model_path.resolve())
        if cfg.torch_threads is not None:
            env[ENV_TORCH_THREADS] = str(cfg.torch_threads)
        env.update(cfg.extra_env)
        return env


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2.0) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
