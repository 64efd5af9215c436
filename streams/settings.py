"""One validated settings object for the runtime; the only place environment variables are read.

Reading the environment in one place means every knob is listed (and documented) here, and
the rest of the code receives plain values that are easy to set in tests.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from streams.kafka_security import (
    ENV_SASL_MECHANISM,
    ENV_SASL_PASSWORD,
    ENV_SASL_USERNAME,
    ENV_SECURITY_PROTOCOL,
    ENV_SSL_CA_LOCATION,
    ENV_SSL_CERTIFICATE_LOCATION,
    ENV_SSL_CHECK_HOSTNAME,
    ENV_SSL_KEY_LOCATION,
    ENV_SSL_KEY_PASSWORD,
    PLAINTEXT,
    KafkaSecurity,
)

__all__ = ["Settings", "env_bool", "env_float", "env_int", "env_secret", "kafka_security_from_env"]


def env_int(env: Mapping[str, str], name: str, default: int) -> int:
    """``env[name]`` as an int (unset or empty: ``default``); the error names the variable."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


def env_float(env: Mapping[str, str], name: str, default: float) -> float:
    """``env[name]`` as a number (unset or empty: ``default``); the error names the variable."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


def env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    """``env[name]`` as a bool (true/false, 1/0, yes/no, on/off; unset or empty: ``default``)."""
    raw = (env.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false, got {raw!r}")


def env_secret(env: Mapping[str, str], name: str) -> str | None:
    """A secret from ``env[name]`` or from the file named by ``env[name + "_FILE"]``.

    The file form is how Kubernetes and Docker mount secrets without putting them in the
    process environment. One trailing newline is dropped (``echo pw > file`` adds one). The
    error never contains the secret, only the variable names.
    """
    value = env.get(name) or None
    path = env.get(f"{name}_FILE") or None
    if value is not None and path is not None:
        raise ValueError(f"set {name} or {name}_FILE, not both")
    if path is None:
        return value
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{name}_FILE: cannot read {path!r} ({exc.strerror})") from None
    return text.removesuffix("\n").removesuffix("\r") or None


def _env_path(env: Mapping[str, str], name: str) -> Path | None:
    raw = env.get(name) or None
    return Path(raw) if raw else None


def kafka_security_from_env(env: Mapping[str, str]) -> KafkaSecurity:
    """The ``KAFKA_*`` SASL/TLS variables (see ``streams.kafka_security`` and deploy/README.md)."""
    mechanism = env.get(ENV_SASL_MECHANISM) or None
    return KafkaSecurity(
        # Kafka's own tools accept either case; normalise so "sasl_ssl" is not an error.
        protocol=(env.get(ENV_SECURITY_PROTOCOL) or "PLAINTEXT").strip().upper(),
        sasl_mechanism=mechanism.strip().upper() if mechanism else None,
        sasl_username=env.get(ENV_SASL_USERNAME) or None,
        sasl_password=env_secret(env, ENV_SASL_PASSWORD),
        ssl_ca_location=_env_path(env, ENV_SSL_CA_LOCATION),
        ssl_certificate_location=_env_path(env, ENV_SSL_CERTIFICATE_LOCATION),
        ssl_key_location=_env_path(env, ENV_SSL_KEY_LOCATION),
        ssl_key_password=env_secret(env, ENV_SSL_KEY_PASSWORD),
        ssl_check_hostname=env_bool(env, ENV_SSL_CHECK_HOSTNAME, True),
    )


@dataclass(frozen=True)
class Settings:
    """Runtime configuration. Build it with :meth:`from_env`; override fields with ``replace``."""

    # The Faust app id, which is also the Kafka consumer group: two deployments with different
    # ids consume the same topics independently.
    app_id: str = "streamrec"
    # Kafka. None means "start the embedded Tansu broker on broker_host:broker_port".
    bootstrap_servers: str | None = None
    # SASL/TLS of every Kafka client (the worker's Faust app and the confluent-kafka CLI tools).
    kafka_security: KafkaSecurity = PLAINTEXT
    broker_host: str = "127.0.0.1"
    broker_port: int = 9092
    partitions: int = 4  # per topic; the unit of consumer parallelism
    replication_factor: int = 1  # 3 on a production cluster
    # Triton. None means "start the embedded tritonserver on triton_host with these ports".
    triton_url: str | None = None
    triton_host: str = "127.0.0.1"
    triton_http_port: int = 8000
    triton_grpc_port: int = 8001
    triton_metrics_port: int = 8002
    model_path: Path | None = None  # a local Hugging Face causal-LM dir; None = packaged SmolLM2
    # State and the worker's own HTTP endpoint (status, metrics).
    data_dir: Path = Path(".streamrec")
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    # Ingestion: micro-batches bound both latency and per-transaction overhead.
    batch_max_events: int = 5000
    batch_within_s: float = 0.2
    # A batch also goes once the stream has been quiet this long: a live click is stored (and
    # ranked) without waiting out the window; a replay's batches still fill (streams.delivery.intake).
    batch_quiet_s: float = 0.02
    max_event_bytes: int = 64 * 1024
    # Longest a consumer fetch may wait at the broker for data (streams.transport; Faust's own
    # 1500 ms held every click up to that long on the embedded broker).
    fetch_max_wait_ms: int = 100
    # Recommendation.
    candidates: int = 20  # N candidates retrieved and scored per user
    top_k: int = 10  # K published
    recent_items: int = 5  # R most recent interactions shown to the LLM, after the summary
    popularity_window_days: float = 30.0  # "recent" popularity, in event time
    score_concurrency: int = 1  # parallel Triton calls; the CPU model is the bottleneck
    # M pending users per Triton call (cross-user batching). 1 on the CPU: batching buys no
    # throughput there and a live user would wait for a whole batch in flight; 16-32 on a GPU.
    score_batch_users: int = 1
    live_lag_s: float = 300.0  # a trigger event older than this on arrival is backfill, not live
    backfill_every: int = 4  # when both lanes wait, every n-th call serves the backfill lane
    # While replayed history arrives, the backfill lane waits until ingestion has been quiet
    # this long (streams.agents.lanes.BackfillHold; 0 disables), but at most this long between
    # two backfill calls.
    backfill_quiet_s: float = 2.0
    backfill_hold_max_s: float = 30.0
    score_retries: int = 3
    score_backoff_s: float = 0.5
    score_timeout_s: float = 60.0
    # Recurrent preference summaries (LLM-TRSR).
    summary_block: int = 5  # B interactions per block; 0 disables summaries
    summary_live: bool = True  # False: only backfills and deletion rebuilds (bulk imports)
    summary_fold_after: int = 4  # pending blocks of one user before updates fold several
    summary_max_fold: int = 8  # blocks folded into one update at most (bounds the prompt)
    summary_batch: int = 16  # users per batched summarizer call
    summary_timeout_s: float = 300.0
    log_level: str = "info"
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        positive = {
            "broker_port": self.broker_port,
            "partitions": self.partitions,
            "replication_factor": self.replication_factor,
            "triton_http_port": self.triton_http_port,
            "triton_grpc_port": self.triton_grpc_port,
            "triton_metrics_port": self.triton_metrics_port,
            "web_port": self.web_port,
            "batch_max_events": self.batch_max_events,
            "max_event_bytes": self.max_event_bytes,
            "candidates": self.candidates,
            "top_k": self.top_k,
            "recent_items": self.recent_items,
            "score_concurrency": self.score_concurrency,
            "score_batch_users": self.score_batch_users,
            "backfill_every": self.backfill_every,
            "summary_fold_after": self.summary_fold_after,
            "summary_max_fold": self.summary_max_fold,
            "summary_batch": self.summary_batch,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {value}")
        if not re.fullmatch(r"[A-Za-z0-9._-]+", self.app_id):
            raise ValueError(f"`app_id` must be letters, digits, '.', '_' or '-', got {self.app_id!r}")
        if self.top_k > self.candidates:
            raise ValueError(f"`top_k` ({self.top_k}) must not exceed `candidates` ({self.candidates})")
        for name, number in {
            "batch_within_s": self.batch_within_s,
            "batch_quiet_s": self.batch_quiet_s,
            "popularity_window_days": self.popularity_window_days,
            "score_backoff_s": self.score_backoff_s,
            "score_timeout_s": self.score_timeout_s,
            "live_lag_s": self.live_lag_s,
            "backfill_quiet_s": self.backfill_quiet_s,
            "backfill_hold_max_s": self.backfill_hold_max_s,
            "summary_timeout_s": self.summary_timeout_s,
        }.items():
            if not math.isfinite(number):
                raise ValueError(f"`{name}` must be a finite number, got {number}")
        if self.fetch_max_wait_ms < 0:
            raise ValueError(f"`fetch_max_wait_ms` must be >= 0, got {self.fetch_max_wait_ms}")
        if self.live_lag_s < 0:
            raise ValueError(f"`live_lag_s` must be >= 0, got {self.live_lag_s}")
        if self.backfill_quiet_s < 0:
            raise ValueError(
                f"`backfill_quiet_s` must be >= 0 (0 disables the hold), got {self.backfill_quiet_s}"
            )
        if self.backfill_hold_max_s <= 0:
            raise ValueError(f"`backfill_hold_max_s` must be > 0, got {self.backfill_hold_max_s}")
        if self.score_backoff_s < 0:
            raise ValueError(f"`score_backoff_s` must be >= 0, got {self.score_backoff_s}")
        if self.score_timeout_s <= 0:
            raise ValueError(f"`score_timeout_s` must be > 0, got {self.score_timeout_s}")
        if self.batch_within_s <= 0:
            raise ValueError(f"`batch_within_s` must be > 0, got {self.batch_within_s}")
        if self.batch_quiet_s <= 0:  # above batch_within_s it simply never fires first
            raise ValueError(f"`batch_quiet_s` must be > 0, got {self.batch_quiet_s}")
        if self.popularity_window_days <= 0:
            raise ValueError(f"`popularity_window_days` must be > 0, got {self.popularity_window_days}")
        if self.summary_block < 0:
            raise ValueError(f"`summary_block` must be >= 0 (0 disables summaries), got {self.summary_block}")
        if self.score_retries < 0:
            raise ValueError(f"`score_retries` must be >= 0, got {self.score_retries}")
        if self.log_level not in {"crit", "error", "warn", "info", "debug"}:
            raise ValueError(f"`log_level` must be one of crit/error/warn/info/debug, got {self.log_level!r}")
        if self.bootstrap_servers is None and self.kafka_security.protocol != "PLAINTEXT":
            raise ValueError(
                f"{ENV_SECURITY_PROTOCOL}={self.kafka_security.protocol} needs KAFKA_BOOTSTRAP_SERVERS: "
                "the embedded Tansu broker speaks PLAINTEXT only"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ``KAFKA_BOOTSTRAP_SERVERS``, the ``KAFKA_*`` security variables, ``TRITON_URL``
        and ``STREAMREC_*`` variables."""
        env = os.environ if env is None else env
        model_path = env.get("STREAMREC_MODEL_PATH") or None
        return cls(
            app_id=env.get("STREAMREC_APP_ID") or "streamrec",
            bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS") or None,
            kafka_security=kafka_security_from_env(env),
            broker_port=env_int(env, "STREAMREC_BROKER_PORT", 9092),
            partitions=env_int(env, "STREAMREC_PARTITIONS", 4),
            replication_factor=env_int(env, "STREAMREC_REPLICATION_FACTOR", 1),
            triton_url=env.get("TRITON_URL") or None,
            triton_http_port=env_int(env, "STREAMREC_TRITON_HTTP_PORT", 8000),
            triton_grpc_port=env_int(env, "STREAMREC_TRITON_GRPC_PORT", 8001),
            triton_metrics_port=env_int(env, "STREAMREC_TRITON_METRICS_PORT", 8002),
            model_path=Path(model_path) if model_path else None,
            data_dir=Path(env.get("STREAMREC_DATA_DIR") or ".streamrec"),
            web_host=env.get("STREAMREC_WEB_HOST") or "127.0.0.1",
            web_port=env_int(env, "STREAMREC_WEB_PORT", 6066),
            batch_max_events=env_int(env, "STREAMREC_BATCH_MAX_EVENTS", 5000),
            batch_within_s=env_float(env, "STREAMREC_BATCH_WITHIN_S", 0.2),
            batch_quiet_s=env_float(env, "STREAMREC_BATCH_QUIET_S", 0.02),
            fetch_max_wait_ms=env_int(env, "STREAMREC_FETCH_MAX_WAIT_MS", 100),
            candidates=env_int(env, "STREAMREC_CANDIDATES", 20),
            top_k=env_int(env, "STREAMREC_TOP_K", 10),
            recent_items=env_int(env, "STREAMREC_RECENT_ITEMS", 5),
            summary_block=env_int(env, "STREAMREC_SUMMARY_BLOCK", 5),
            summary_live=(env.get("STREAMREC_SUMMARY_LIVE") or "true").lower() not in ("0", "false", "no"),
            summary_fold_after=env_int(env, "STREAMREC_SUMMARY_FOLD_AFTER", 4),
            summary_max_fold=env_int(env, "STREAMREC_SUMMARY_MAX_FOLD", 8),
            summary_batch=env_int(env, "STREAMREC_SUMMARY_BATCH", 16),
            score_concurrency=env_int(env, "STREAMREC_SCORE_CONCURRENCY", 1),
            score_batch_users=env_int(env, "STREAMREC_SCORE_BATCH_USERS", 1),
            live_lag_s=env_float(env, "STREAMREC_LIVE_LAG_S", 300.0),
            backfill_every=env_int(env, "STREAMREC_BACKFILL_EVERY", 4),
            backfill_quiet_s=env_float(env, "STREAMREC_BACKFILL_QUIET_S", 2.0),
            backfill_hold_max_s=env_float(env, "STREAMREC_BACKFILL_HOLD_MAX_S", 30.0),
            score_retries=env_int(env, "STREAMREC_SCORE_RETRIES", 3),
            score_backoff_s=env_float(env, "STREAMREC_SCORE_BACKOFF_S", 0.5),
            log_level=env.get("STREAMREC_LOG_LEVEL") or "info",
        )

    @property
    def bootstrap(self) -> str:
        """The Kafka bootstrap address clients should use (embedded broker when unset)."""
        return self.bootstrap_servers or f"{self.broker_host}:{self.broker_port}"

    @property
    def triton_grpc(self) -> str:
        """The Triton gRPC address clients should use (embedded server when unset)."""
        return self.triton_url or f"{self.triton_host}:{self.triton_grpc_port}"

    @property
    def database_path(self) -> Path:
        return self.data_dir / "streamrec.duckdb"

    @property
    def adapters_dir(self) -> Path:
        """Where adapter sets are written (and, locally, where Triton reads them)."""
        return self.data_dir / "adapters"

    @property
    def snapshots_dir(self) -> Path:
        """Training snapshots exported by the worker; deleted after each training run."""
        return self.data_dir / "snapshots"

    @property
    def web_url(self) -> str:
        return f"http://{self.web_host}:{self.web_port}"

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)  # type: ignore[arg-type]
