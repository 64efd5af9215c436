"""The validation fast paths decide exactly as the slow checks they skip.

Ingest validates every record on the event loop, so two checks got a fast path: a printable
id or text skips the per-character category loop, and a record whose raw JSON text is surely
within the wire limits skips the walk over its values. A fast path may only say "clean" where
the slow check would; these tests hold them to it.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.contracts import Click, parse_event
from streams.contracts.events import ID_FORBIDDEN_CATEGORIES, TEXT_FORBIDDEN_CATEGORIES
from streams.contracts.validation import MAX_DEPTH, check_json_values, values_surely_within_limits
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
