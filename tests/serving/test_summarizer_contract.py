"""The summarizer's wire contract: config.pbtxt declares the tensors of serving.contract."""

import re

import pytest

from serving.contract import (
    MODEL_ID,
    PROMPTS,
    SUMMARIES,
    SUMMARIZER_INPUTS,
    SUMMARIZER_MODEL_NAME,
    SUMMARIZER_OUTPUTS,
    decode_summaries,
    encode_texts,
)
from serving.exceptions import ContractError
from serving.launcher import ALL_MODELS, DEFAULT_MODEL_REPOSITORY
from serving.settings import SummarizerSettings


def config_text() -> str:
    text = (DEFAULT_MODEL_REPOSITORY / SUMMARIZER_MODEL_NAME / "config.pbtxt").read_text()
    return re.sub(r"#[^\n]*", "", text)  # comments may mention tensor names


def test_config_pbtxt_matches_contract() -> None:
    text = config_text()
    assert re.search(rf'name:\s*"{SUMMARIZER_MODEL_NAME}"', text)
    declared = {
        name: (dtype, tuple(int(d) for d in dims.replace(" ", "").split(",")))
        for name, dtype, dims in re.findall(
            r'name:\s*"(\w+)"\s*data_type:\s*(\w+)\s*dims:\s*\[([^\]]*)\]', text
        )
    }
    expected = {
        spec.name: (spec.config_dtype, spec.dims) for spec in (*SUMMARIZER_INPUTS, *SUMMARIZER_OUTPUTS)
    }
    assert declared == expected
    assert expected == {
        "PROMPTS": ("TYPE_STRING", (-1,)),
        "SUMMARIES": ("TYPE_STRING", (-1,)),
        "MODEL_ID": ("TYPE_STRING", (1,)),
    }
    assert re.search(r"max_batch_size:\s*0", text)


def test_config_parameters_are_the_settings_defaults() -> None:
    parameters = dict(re.findall(r'key:\s*"(\w+)"\s*value:\s*\{\s*string_value:\s*"([^"]*)"', config_text()))
    assert set(parameters) == {
        "model_path",
        "data_dir",
        "torch_threads",
        "device",
        "max_new_tokens",
        "batch_size",
        "max_prompt_tokens",
        "max_prompts",
        "repetition_penalty",
    }
    assert SummarizerSettings.resolve(parameters, env={}) == SummarizerSettings()


def test_every_model_in_the_repository_is_known_to_the_launcher() -> None:
    models = {path.parent.name for path in DEFAULT_MODEL_REPOSITORY.glob("*/config.pbtxt")}
    assert models == set(ALL_MODELS)


def test_summaries_decode_checks_the_count() -> None:
    assert decode_summaries(encode_texts(["a", ""]), 2) == ["a", ""]
    with pytest.raises(ContractError, match="SUMMARIES has 1 texts for 2 prompts"):
        decode_summaries(encode_texts(["a"]), 2)
    with pytest.raises(ContractError, match="no SUMMARIES tensor"):
        decode_summaries(None, 1)


def test_tensor_names_are_stable() -> None:
    # Renaming a tensor breaks deployed clients; make it a deliberate, reviewed change.
    assert (PROMPTS.name, SUMMARIES.name, MODEL_ID.name) == ("PROMPTS", "SUMMARIES", "MODEL_ID")
