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
        ({"precision": "fp16"}, "precision must be one of"),
    ],
)
def test_invalid_values_name_field_and_value(params: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RecommenderSettings.resolve(params, env={})


def test_precision_comes_from_the_environment_or_the_parameter() -> None:
    assert RecommenderSettings.resolve({}, env={}).precision == "auto"
    assert RecommenderSettings.resolve({"precision": "float32"}, env={}).precision == "float32"
    assert RecommenderSettings.resolve(
        {"precision": "float32"}, env={"STREAMREC_PRECISION": "bfloat16"}
    ).precision == ("bfloat16")


@pytest.mark.parametrize(
    ("precision", "device", "expected"),
    [
        ("auto", "cpu", "float32"),  # the CPU keeps fp32: exact training, unchanged scores
        ("auto", "cuda", "bfloat16"),
        ("auto", "cuda:1", "bfloat16"),
        ("float32", "cuda", "float32"),
        ("bfloat16", "cpu", "bfloat16"),
    ],
)
def test_auto_precision_is_bf16_on_cuda_and_fp32_on_the_cpu(
    precision: str, device: str, expected: str
) -> None:
    from models.loading import resolve_precision

    assert resolve_precision(precision, device) == expected


def test_an_unknown_precision_is_refused() -> None:
    from models.exceptions import ModelLoadError
    from models.loading import resolve_precision

    with pytest.raises(ModelLoadError, match="precision must be one of"):
        resolve_precision("int4", "cpu")
