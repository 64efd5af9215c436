"""Summarizer settings: environment over config.pbtxt, its own model path falling back to the shared one."""

from pathlib import Path

import pytest

from serving.settings import SummarizerSettings

PARAMS = {
    "model_path": "/from/pbtxt",
    "data_dir": "",
    "torch_threads": "",
    "device": "auto",
    "max_new_tokens": "64",
    "batch_size": "8",
    "max_prompt_tokens": "1024",
    "max_prompts": "32",
    "repetition_penalty": "1.1",
}


def test_parameters_apply_when_environment_is_silent() -> None:
    settings = SummarizerSettings.resolve(PARAMS, env={})
    assert settings == SummarizerSettings(
        model_path=Path("/from/pbtxt"),
        max_new_tokens=64,
        batch_size=8,
        max_prompt_tokens=1024,
        max_prompts=32,
        repetition_penalty=1.1,
    )
    assert SummarizerSettings.resolve({}, env={}) == SummarizerSettings()  # documented defaults
    assert SummarizerSettings().max_new_tokens == 96 and SummarizerSettings().batch_size == 16


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"STREAMREC_SUMMARIZER_MODEL_PATH": "/own", "STREAMREC_MODEL_PATH": "/shared"}, Path("/own")),
        ({"STREAMREC_SUMMARIZER_MODEL_PATH": " ", "STREAMREC_MODEL_PATH": "/shared"}, Path("/shared")),
        ({"STREAMREC_MODEL_PATH": "/shared"}, Path("/shared")),
        ({"STREAMREC_SUMMARIZER_MODEL_PATH": "", "STREAMREC_MODEL_PATH": ""}, Path("/from/pbtxt")),
    ],
)
def test_model_path_precedence(env: dict[str, str], expected: Path) -> None:
    assert SummarizerSettings.resolve(PARAMS, env=env).model_path == expected


def test_shared_environment_overrides() -> None:
    env = {
        "STREAMREC_DATA_DIR": "/data",
        "STREAMREC_TORCH_THREADS": "1",
        "STREAMREC_DEVICE": "cpu",
        "STREAMREC_SUMMARY_MAX_NEW_TOKENS": "24",
    }
    settings = SummarizerSettings.resolve(PARAMS, env=env)
    assert settings.data_dir == Path("/data")
    assert settings.torch_threads == 1 and settings.device == "cpu" and settings.max_new_tokens == 24
    assert SummarizerSettings.resolve({"model_path": ""}, env={}).model_path is None  # packaged SmolLM2


@pytest.mark.parametrize(
    ("params", "env", "message"),
    [
        ({"max_new_tokens": "many"}, {}, "SummarizerSettings.max_new_tokens must be an integer, got 'many'"),
        (
            {},
            {"STREAMREC_SUMMARY_MAX_NEW_TOKENS": "0"},
            "SummarizerSettings.max_new_tokens must be >= 1, got 0",
        ),
        ({"batch_size": "0"}, {}, "SummarizerSettings.batch_size must be >= 1, got 0"),
        ({"max_prompts": "-2"}, {}, "SummarizerSettings.max_prompts must be >= 1, got -2"),
        ({"torch_threads": "0"}, {}, "SummarizerSettings.torch_threads must be >= 1 or None, got 0"),
        ({"device": "tpu"}, {}, "SummarizerSettings.device must be one of .* got 'tpu'"),
        (
            {"repetition_penalty": "high"},
            {},
            "SummarizerSettings.repetition_penalty must be a number, got 'high'",
        ),
        (
            {"repetition_penalty": "0"},
            {},
            r"SummarizerSettings.repetition_penalty must be a finite number > 0, got 0.0",
        ),
    ],
)
def test_invalid_values_name_field_and_value(
    params: dict[str, str], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        SummarizerSettings.resolve(params, env=env)
