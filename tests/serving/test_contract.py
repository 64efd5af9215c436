"""The wire contract: strings survive encoding, and config.pbtxt declares the same tensors."""

import re

import numpy as np
import pytest

from serving.contract import (
    CANDIDATES,
    CONTEXT,
    INPUTS,
    MAX_USERS,
    MODEL_ID,
    MODEL_NAME,
    OUTPUTS,
    PROBABILITIES,
    UserInput,
    decode_probabilities,
    decode_texts,
    decode_users,
    encode_counts,
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


def test_decoding_rejects_bad_tensors() -> None:
    with pytest.raises(ContractError, match=r"CANDIDATES\[1\] is not valid UTF-8"):
        decode_texts(np.array([b"ok", b"\xff\xfe"], dtype=np.object_), CANDIDATES.name)
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
        "CANDIDATE_COUNTS",
        "CONTEXT_ITEMS",
        "CONTEXT_ITEM_COUNTS",
        "EXCLUDED_SHARDS",
    }
    assert {spec.name for spec in OUTPUTS} == {
        PROBABILITIES.name,
        MODEL_ID.name,
        "ADAPTER_SET",
        "SHARD_WEIGHTS",
    }
    # The adapter and batching inputs are optional: a single-user client without adapters still works.
    for name in ("CANDIDATE_COUNTS", "CONTEXT_ITEMS", "CONTEXT_ITEM_COUNTS", "EXCLUDED_SHARDS"):
        assert re.search(rf'name:\s*"{name}"[^}}]*optional:\s*true', text), name
    assert re.search(r"max_batch_size:\s*0", text)


# -- several users in one request (cross-user batching) ----------------------------------------


def test_one_user_needs_no_counts() -> None:
    users = decode_users(encode_texts(["ctx"]), encode_texts(["a", "b"]), None, encode_texts(["i1"]), None)
    assert users == [UserInput("ctx", ("a", "b"), ("i1",))]
    assert decode_users(encode_texts(["ctx"]), encode_texts(["a"]), None, None, None)[0].context_items == ()


def test_counts_split_the_flat_tensors_per_user() -> None:
    users = decode_users(
        encode_texts(["c0", "c1", "c2"]),
        encode_texts(["a", "b", "c", "d", "e", "f"]),
        encode_counts([1, 3, 2]),
        encode_texts(["x", "y", "z"]),
        encode_counts([2, 0, 1]),
    )
    assert users == [
        UserInput("c0", ("a",), ("x", "y")),
        UserInput("c1", ("b", "c", "d"), ()),
        UserInput("c2", ("e", "f"), ("z",)),
    ]


@pytest.mark.parametrize(
    ("counts", "items", "item_counts", "match"),
    [
        (None, None, None, "CANDIDATES for 2 users needs its counts"),
        ([1, 1, 1], None, None, "must be 2 non-negative integers"),
        ([2, 1], None, None, "add up to 3, but it holds 2"),
        ([-1, 3], None, None, "non-negative"),
        ([1, 1], ["x"], None, "CONTEXT_ITEMS for 2 users needs its counts"),
        ([1, 1], ["x"], [0, 2], "add up to 2, but it holds 1"),
    ],
)
def test_inconsistent_counts_are_contract_errors(
    counts: list[int] | None, items: list[str] | None, item_counts: list[int] | None, match: str
) -> None:
    with pytest.raises(ContractError, match=match):
        decode_users(
            encode_texts(["c0", "c1"]),
            encode_texts(["a", "b"]),
            None if counts is None else encode_counts(counts),
            None if items is None else encode_texts(items),
            None if item_counts is None else encode_counts(item_counts),
        )


def test_the_number_of_users_is_bounded() -> None:
    with pytest.raises(ContractError, match="at least|1 to"):
        decode_users(encode_texts([]), encode_texts([]), None, None, None)
    many = MAX_USERS + 1
    with pytest.raises(ContractError, match=f"got {many}"):
        decode_users(
            encode_texts(["c"] * many), encode_texts(["a"] * many), encode_counts([1] * many), None, None
        )
