"""The wire contract: strings survive encoding, and config.pbtxt declares the same tensors."""

import re

import numpy as np
import pytest

from serving.contract import (
    CANDIDATES,
    CONTEXT,
    INPUTS,
    MODEL_ID,
    MODEL_NAME,
    OUTPUTS,
    PROBABILITIES,
    decode_context,
    decode_probabilities,
    decode_texts,
    encode_probabilities,
    encode_texts,
)
from serving.exceptions import ContractError
from serving.launcher import DEFAULT_MODEL_REPOSITORY


def test_texts_round_trip_including_unicode_and_empty() -> None:
    texts = ["### Input:\nrated 4.5", "Amélie (2001) — 🎬", "", "x" * 10_000]
    encoded = encode_texts(texts)
    assert encoded.dtype == np.object_ and encoded.shape == (4,)
    assert all(isinstance(value, bytes) for value in encoded)
    assert decode_texts(encoded, CANDIDATES.name) == texts
    assert decode_context(encode_texts(["only one"])) == "only one"


def test_decoding_rejects_bad_tensors() -> None:
    with pytest.raises(ContractError, match=r"CANDIDATES\[1\] is not valid UTF-8"):
        decode_texts(np.array([b"ok", b"\xff\xfe"], dtype=np.object_), CANDIDATES.name)
    with pytest.raises(ContractError, match="exactly one string, got 2"):
        decode_context(encode_texts(["a", "b"]))
    with pytest.raises(ContractError, match="must be str"):
        encode_texts(["a", 3])  # type: ignore[list-item]


def test_probabilities_round_trip_and_length_check() -> None:
    values = np.array([0.25, 0.5, 0.999], dtype=np.float64)
    encoded = encode_probabilities(values)
    assert encoded.dtype == np.float32
    np.testing.assert_array_equal(decode_probabilities(encoded, 3), values.astype(np.float32))
    with pytest.raises(ContractError, match="2 values for 3 candidates"):
        decode_probabilities(encoded[:2], 3)


def test_config_pbtxt_matches_contract() -> None:
    text = (DEFAULT_MODEL_REPOSITORY / MODEL_NAME / "config.pbtxt").read_text()
    text = re.sub(r"#[^\n]*", "", text)  # comments may mention tensor names
    assert re.search(rf'name:\s*"{MODEL_NAME}"', text)
    declared = {
        name: (dtype, tuple(int(d) for d in dims.replace(" ", "").split(",")))
        for name, dtype, dims in re.findall(
            r'name:\s*"(\w+)"\s*data_type:\s*(\w+)\s*dims:\s*\[([^\]]*)\]', text
        )
    }
    assert declared == {spec.name: (spec.config_dtype, spec.dims) for spec in (*INPUTS, *OUTPUTS)}
    assert {spec.name for spec in INPUTS} == {
        CONTEXT.name,
        CANDIDATES.name,
        "CONTEXT_ITEMS",
        "EXCLUDED_SHARDS",
    }
    assert {spec.name for spec in OUTPUTS} == {
        PROBABILITIES.name,
        MODEL_ID.name,
        "ADAPTER_SET",
        "SHARD_WEIGHTS",
    }
    # The adapter inputs are optional: a client that does not know about adapters still works.
    for name in ("CONTEXT_ITEMS", "EXCLUDED_SHARDS"):
        assert re.search(rf'name:\s*"{name}"[^}}]*optional:\s*true', text), name
    assert re.search(r"max_batch_size:\s*0", text)
