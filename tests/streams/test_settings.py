"""``Settings``: parsed from an explicit env mapping, validated with errors that name the knob."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from streams.settings import Settings


def test_defaults_from_empty_env() -> None:
    """An empty environment gives the documented defaults (embedded broker and Triton)."""
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.bootstrap_servers is None
    assert settings.triton_url is None
    assert settings.partitions == 4
    assert (settings.candidates, settings.top_k) == (20, 10)
    assert settings.data_dir == Path(".streamrec")
    assert settings.model_path is None
    assert settings.log_level == "info"


def test_from_env_ignores_the_process_environment_when_given_a_mapping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An explicit mapping is the only source (tests do not depend on the shell)."""
    for name in list(os.environ):
        if name.startswith(("STREAMREC_", "KAFKA_", "TRITON_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("STREAMREC_PARTITIONS", "9")
    assert Settings.from_env({}).partitions == 4
    assert Settings.from_env().partitions == 9


def test_from_env_parses_values() -> None:
    """Every documented variable lands in its field with the right type."""
    settings = Settings.from_env(
        {
            "KAFKA_BOOTSTRAP_SERVERS": "kafka-0:9092,kafka-1:9092",
            "TRITON_URL": "triton:8001",
            "STREAMREC_PARTITIONS": "12",
            "STREAMREC_REPLICATION_FACTOR": "3",
            "STREAMREC_MODEL_PATH": "/models/lora",
            "STREAMREC_DATA_DIR": "/var/lib/streamrec",
            "STREAMREC_WEB_PORT": "7000",
            "STREAMREC_BATCH_MAX_EVENTS": "100",
            "STREAMREC_BATCH_WITHIN_S": "0.05",
            "STREAMREC_CANDIDATES": "30",
            "STREAMREC_TOP_K": "30",
            "STREAMREC_RECENT_ITEMS": "5",
            "STREAMREC_SCORE_CONCURRENCY": "2",
            "STREAMREC_SCORE_RETRIES": "0",
            "STREAMREC_SCORE_BACKOFF_S": "1.5",
            "STREAMREC_LOG_LEVEL": "debug",
        }
    )
    assert settings.bootstrap_servers == "kafka-0:9092,kafka-1:9092"
    assert settings.triton_url == "triton:8001"
    assert (settings.partitions, settings.replication_factor) == (12, 3)
    assert settings.model_path == Path("/models/lora")
    assert settings.data_dir == Path("/var/lib/streamrec")
    assert settings.database_path == Path("/var/lib/streamrec/streamrec.duckdb")
    assert settings.web_port == 7000
    assert settings.web_url == "http://127.0.0.1:7000"
    assert (settings.batch_max_events, settings.batch_within_s) == (100, 0.05)
    assert (settings.candidates, settings.top_k, settings.recent_items) == (30, 30, 5)
    assert (settings.score_concurrency, settings.score_retries, settings.score_backoff_s) == (2, 0, 1.5)
    assert settings.log_level == "debug"


def test_empty_strings_mean_default() -> None:
    """VAR= (empty) is treated as unset, as shells and compose files often produce it."""
    settings = Settings.from_env(
        {"KAFKA_BOOTSTRAP_SERVERS": "", "STREAMREC_PARTITIONS": "", "STREAMREC_MODEL_PATH": ""}
    )
    assert settings.bootstrap_servers is None
    assert settings.partitions == 4
    assert settings.model_path is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STREAMREC_PARTITIONS", "abc"),
        ("STREAMREC_PARTITIONS", "1.5"),
        ("STREAMREC_WEB_PORT", "http"),
        ("STREAMREC_BATCH_WITHIN_S", "fast"),
        ("STREAMREC_SCORE_BACKOFF_S", "1s"),
    ],
)
def test_unparsable_value_names_the_variable(name: str, value: str) -> None:
    """The error says which variable and which value, so the operator can fix the deployment."""
    with pytest.raises(ValueError, match=name) as info:
        Settings.from_env({name: value})
    assert repr(value) in str(info.value)


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"STREAMREC_PARTITIONS": "0"}, "partitions"),
        ({"STREAMREC_PARTITIONS": "-2"}, "partitions"),
        ({"STREAMREC_CANDIDATES": "0"}, "candidates"),
        ({"STREAMREC_WEB_PORT": "0"}, "web_port"),
        ({"STREAMREC_BATCH_WITHIN_S": "0"}, "batch_within_s"),
        ({"STREAMREC_BATCH_QUIET_S": "0"}, "batch_quiet_s"),
        ({"STREAMREC_SCORE_RETRIES": "-1"}, "score_retries"),
        ({"STREAMREC_LOG_LEVEL": "verbose"}, "log_level"),
    ],
)
def test_invalid_value_names_the_field(env: dict[str, str], field: str) -> None:
    """Values that parse but make no sense are rejected, naming the field."""
    with pytest.raises(ValueError, match=f"`{field}`"):
        Settings.from_env(env)


def test_top_k_may_not_exceed_candidates() -> None:
    """K published cannot be more than N scored; K == N is fine."""
    with pytest.raises(ValueError, match="`top_k` \\(21\\).*`candidates` \\(20\\)"):
        Settings.from_env({"STREAMREC_TOP_K": "21"})
    assert Settings.from_env({"STREAMREC_TOP_K": "5", "STREAMREC_CANDIDATES": "5"}).top_k == 5


def test_overrides_are_validated_again() -> None:
    """with_overrides returns a changed copy and re-runs validation."""
    base = Settings()
    changed = base.with_overrides(partitions=8)
    assert changed.partitions == 8
    assert base.partitions == 4
    with pytest.raises(ValueError, match="`top_k`"):
        base.with_overrides(candidates=5)


def test_bootstrap_embedded_vs_configured() -> None:
    """Unset: the embedded broker's host:port; set: the configured servers verbatim."""
    assert Settings.from_env({}).bootstrap == "127.0.0.1:9092"
    assert Settings.from_env({"STREAMREC_BROKER_PORT": "19092"}).bootstrap == "127.0.0.1:19092"
    configured = Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "k1:9092", "STREAMREC_BROKER_PORT": "1"})
    assert configured.bootstrap == "k1:9092"


def test_triton_grpc_embedded_vs_configured() -> None:
    """Unset: the embedded server's gRPC port; set: TRITON_URL verbatim."""
    assert Settings.from_env({}).triton_grpc == "127.0.0.1:8001"
    assert Settings.from_env({"STREAMREC_TRITON_GRPC_PORT": "9001"}).triton_grpc == "127.0.0.1:9001"
    assert Settings.from_env({"TRITON_URL": "gpu-box:8001"}).triton_grpc == "gpu-box:8001"


def test_settings_are_frozen() -> None:
    """Settings cannot be mutated after validation."""
    settings = Settings()
    with pytest.raises(AttributeError):
        settings.partitions = 0  # type: ignore[misc]


@pytest.mark.parametrize(
    "env",
    [
        {"STREAMREC_BATCH_WITHIN_S": "nan"},
        {"STREAMREC_BATCH_WITHIN_S": "inf"},
        {"STREAMREC_BATCH_QUIET_S": "nan"},
        {"STREAMREC_SCORE_BACKOFF_S": "nan"},
        {"STREAMREC_SCORE_BACKOFF_S": "-1"},
    ],
)
def test_non_finite_durations_are_rejected(env: dict[str, str]) -> None:
    """float('nan') parses and ``nan <= 0`` is False, so NaN/inf intervals slip through;
    score_backoff_s is not validated at all."""
    with pytest.raises(ValueError):
        Settings.from_env(env)
