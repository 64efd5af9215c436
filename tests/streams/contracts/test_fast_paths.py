"""The validation fast paths decide exactly as the slow checks they skip.

Ingest validates every record on the event loop, so two checks got a fast path: a printable
id or text skips the per-character category loop, and a record whose raw JSON text is surely
within the wire limits skips the walk over its values. A fast path may only say "clean" where
the slow check would; these tests hold them to it.
"""

from __future__ import annotations

import json
import math
import sys
import unicodedata
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.contracts import Click, parse_event
from streams.contracts.events import ID_FORBIDDEN_CATEGORIES, TEXT_FORBIDDEN_CATEGORIES
from streams.contracts.validation import (
    _DECODER,
    MAX_DEPTH,
    _plain_json_object,
    check_json_values,
    values_surely_within_limits,
)
from streams.exceptions import InvalidEvent


def test_no_printable_character_is_in_a_forbidden_category() -> None:
    """Every code point: ``isprintable`` implies none of the forbidden categories."""
    forbidden = ID_FORBIDDEN_CATEGORIES | TEXT_FORBIDDEN_CATEGORIES
    leaks = [
        f"U+{cp:04X}"
        for cp in range(sys.maxunicode + 1)
        if chr(cp).isprintable() and unicodedata.category(chr(cp)) in forbidden
    ]
    assert leaks == []


# JSON values with everything the walk rejects in reach: NUL, lone surrogates, integers just
# beyond 64 bits, and nesting past MAX_DEPTH.
_text = st.text(st.characters(codec=None), max_size=8) | st.sampled_from(["\x00", "\ud800", "a\udfffb"])
_edges = st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1])
_ints = st.integers(min_value=-(2**70), max_value=2**70) | _edges
_leaves = st.none() | st.booleans() | _ints | st.floats(allow_nan=False, allow_infinity=False) | _text
_values = st.recursive(
    _leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=40,
)


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth - 1):
        value = [value]
    return value


@settings(max_examples=400, deadline=None)
@given(value=_values | st.integers(1, MAX_DEPTH + 3).map(_nested), ascii_only=st.booleans())
def test_the_raw_screen_never_passes_a_value_the_walk_rejects(value: Any, ascii_only: bool) -> None:
    try:
        raw = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8")
    except UnicodeEncodeError:
        return  # a raw lone surrogate is not UTF-8: parse_event rejects such bytes before either
    if values_surely_within_limits(raw):
        assert check_json_values(json.loads(raw)) is None


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"schema_version":1,"user_id":"a\\u0000","item_id":"i","event_type":"click"}', "NUL character"),
        (b'{"schema_version":1,"user_id":"\\ud800","item_id":"i","event_type":"click"}', "lone surrogate"),
        (b'{"schema_version":1,"user_id":"u","item_id":"i","event_type":"click","x":9223372036854775808}',
         "outside the signed 64-bit range"),
        (b'{"schema_version":1,"user_id":"u","item_id":"i","event_type":"click","x":'
         + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"}", "nested deeper"),
    ],
)  # fmt: skip
def test_records_outside_the_screen_still_get_the_walks_reason(raw: bytes, reason: str) -> None:
    """The screen declines each of these, and parse_event rejects them for the right reason."""
    assert not values_surely_within_limits(raw)
    with pytest.raises(InvalidEvent, match=reason):
        parse_event(raw, Click)


def test_a_plain_click_passes_the_screen() -> None:
    """The common case takes the fast path (otherwise it buys nothing)."""
    raw = (
        b'{"schema_version":1,"event_id":"e-1","user_id":"429","item_id":"150",'
        b'"event_type":"rating","rating":5.0,"ts":828124615000}'
    )
    assert values_surely_within_limits(raw)
    assert parse_event(raw, Click).user_id == "429"


def test_a_duplicate_key_is_still_named() -> None:
    raw = b'{"schema_version":1,"user_id":"a","item_id":"i","user_id":"b","event_type":"click"}'
    with pytest.raises(InvalidEvent, match="duplicate key: 'user_id'"):
        parse_event(raw, Click)


# --- the fast JSON parser (jiter) against the strict one ---------------------------------------


def _same(a: Any, b: Any) -> bool:
    """Equal, with the same types all the way down (1 is not 1.0 or True) and the same key order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return bool(a == b)


def _strict(raw: bytes) -> Any:
    """What the slow path parses, or the exception it raises."""
    try:
        return _DECODER.decode(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return exc


def _assert_agrees(raw: bytes) -> None:
    fast = _plain_json_object(raw) if values_surely_within_limits(raw) else None
    if fast is not None:
        slow = _strict(raw)
        assert not isinstance(slow, Exception), f"fast path accepted what the strict parser rejects: {slow}"
        assert _same(fast, slow), (fast, slow)


_keys = st.sampled_from(["schema_version", "user_id", "a", "b", "", "x:y", '"q"', "{", "NaN"])
_json_text = st.recursive(
    _leaves | st.floats(),  # NaN and infinities too: json.dumps writes them as tokens
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys | _text, inner, max_size=4),
    max_leaves=20,
)
_separators = st.sampled_from([(",", ":"), (", ", ": "), (",\n", " :\t"), (" , ", " : ")])


@settings(max_examples=600, deadline=None)
@given(value=_json_text, separators=_separators, ascii_only=st.booleans())
def test_the_fast_parser_returns_what_the_strict_one_does(
    value: Any, separators: tuple[str, str], ascii_only: bool
) -> None:
    """Dumped JSON (any value, key, number, spacing): where the fast path answers at all, its
    object equals the strict parser's, types and key order included."""
    try:
        raw = json.dumps(value, ensure_ascii=ascii_only, separators=separators).encode("utf-8")
    except UnicodeEncodeError:
        return
    _assert_agrees(raw)


# Fragments from which hypothesis builds malformed and tricky texts: repeated keys, tokens
# RFC 8259 forbids, two values in one record, control characters, odd numbers.
_fragments = st.sampled_from(
    [
        "{", "}", "[", "]", ":", ",", '"', '"a"', '"b"', '"a":', '"schema_version":1', "1", "-0",
        "0.5", "1e400", "-1E-5", "01", "1.", "NaN", "-Infinity", "true", "null", " ", "\t", "\n",
        "\\", '\\"', "\\n", "\\/", "\x00", "\x1f", "\x7f", "x",
    ]
)  # fmt: skip


@settings(max_examples=1500, deadline=None)
@given(parts=st.lists(_fragments, max_size=16))
def test_the_fast_parser_never_accepts_what_the_strict_one_rejects(parts: list[str]) -> None:
    _assert_agrees("".join(parts).encode("ascii"))


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a":1,"a":2}',  # jiter keeps the last value; the strict parser names the key
        b'{"a":1, "a" :2}',
        b'{"a":NaN}',
        b'{"a":-Infinity}',
        b'{"a":{"b":1}}',  # a nested key: the count of colons no longer proves uniqueness
        b'{"a":"x:y","a":1}',
        b'{"a":1}{"b":2}',
        b'{"a":1},{"b":2}',
        '{"a":"\u00e9"}'.encode(),  # not ASCII
    ],
)
def test_records_the_fast_parser_leaves_to_the_strict_one(raw: bytes) -> None:
    assert _plain_json_object(raw) is None


def test_a_plain_click_takes_the_fast_parser() -> None:
    raw = (
        b'{"schema_version":1,"event_id":"e-1","user_id":"429","item_id":"150",'
        b'"event_type":"rating","rating":5.0,"ts":828124615000}'
    )
    assert _same(_plain_json_object(raw), json.loads(raw))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"schema_version":1,"user_id":"a","user_id":"b","item_id":"i","event_type":"click"}',
         "duplicate key: 'user_id'"),
        (b'{"schema_version":1,"user_id":"a","item_id":"i","event_type":"rating","rating":NaN}',
         "NaN is not a JSON value"),
        (b'{"schema_version":true,"user_id":"a","item_id":"i","event_type":"click"}',
         "unknown schema_version"),
        (b'{"schema_version":1.0,"user_id":"a","item_id":"i","event_type":"click"}',
         "unknown schema_version"),
        (b'{"schema_version":1,"user_id":"a","item_id":"i","event_type":"click"} x', "not JSON"),
    ],
)  # fmt: skip
def test_parse_event_keeps_its_reasons(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidEvent, match=reason):
        parse_event(raw, Click)
