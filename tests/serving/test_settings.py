"""Settings of the Triton model: environment over config.pbtxt, empty means unset."""

from pathlib import Path

import pytest

from serving.settings import RecommenderSettings

PARAMS = {"model_path": "/from/pbtxt", "data_dir": "", "torch_threads": "1", "max_candidates": "64"}


def test_parameters_apply_when_environment_is_silent() -> None:
    settings = RecommenderSettings.resolve(PARAMS, env={})
    assert settings == RecommenderSettings(
        data_dir=Path(".streamrec"), model_path=Path("/from/pbtxt"), torch_threads=1, max_candidates=64
    )


def test_environment_wins_and_empty_values_count_as_unset() -> None:
    env = {"STREAMREC_MODEL_PATH": "/from/env", "STREAMREC_DATA_DIR": "/data", "STREAMREC_TORCH_THREADS": " "}
    settings = RecommenderSettings.resolve(PARAMS, env=env)
    assert settings.model_path == Path("/from/env")
    assert settings.data_dir == Path("/data")
    assert settings.torch_threads == 1  # blank env value falls back to the parameter
    default = RecommenderSettings.resolve({}, env={"STREAMREC_MODEL_PATH": ""})
    assert default.model_path is None and default.torch_threads is None
    assert default.max_candidates == 512


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"torch_threads": "two"}, "torch_threads must be an integer, got 'two'"),
        ({"torch_threads": "0"}, "torch_threads must be >= 1 or None, got 0"),
        ({"max_candidates": "-1"}, "max_candidates must be >= 1, got -1"),
    ],
)
def test_invalid_values_name_field_and_value(params: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RecommenderSettings.resolve(params, env={})
