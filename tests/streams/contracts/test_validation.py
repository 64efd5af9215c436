"""Wire validation: ``parse_event`` accepts valid contracts and rejects junk with a useful reason.

The reason string ends up in the dead-letter record, so the tests pin that it names the
problem (the field, "oversized", "not JSON", ...), not just that something was rejected.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from pydantic import BaseModel

from streams.contracts import (
    DEFAULT_MAX_BYTES,
    Click,
    Deletion,
    Item,
    dead_letter_for,
    derive_event_id,
    parse_event,
)
from streams.exceptions import InvalidEvent, StreamrecError

CLICK: dict[str, Any] = {"schema_version": 1, "user_id": "u1", "item_id": "i1", "event_type": "click"}


def encode(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8")


def reject(raw: bytes | None, contract: type[BaseModel] = Click, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """Parse ``raw`` expecting a rejection; return the reason."""
    with pytest.raises(InvalidEvent) as info:
        parse_event(raw, contract, max_bytes)
    assert info.value.reason == str(info.value)
    return info.value.reason


def click_with(**changes: Any) -> bytes:
    return encode({**CLICK, **changes})


def click_without(field: str) -> bytes:
    return encode({k: v for k, v in CLICK.items() if k != field})


# -- rejections: the shape of the record ------------------------------------------------------


def test_invalid_event_is_a_streamrec_error() -> None:
    """Callers can catch the package's root exception."""
    assert issubclass(InvalidEvent, StreamrecError)


@pytest.mark.parametrize("raw", [b"{not json", b"", b"{'single': 'quotes'}", b'{"a": 1'])
def test_not_json(raw: bytes) -> None:
    """Bytes that do not parse as JSON are rejected as 'not JSON'."""
    assert reject(raw).startswith("not JSON")


@pytest.mark.parametrize("raw", [b"\x80abc", b'{"user_id": "\xff\xfe"}', b"\xc3\x28"])
def test_non_utf8_bytes(raw: bytes) -> None:
    """Invalid UTF-8 is rejected as 'not JSON' instead of raising UnicodeDecodeError."""
    assert reject(raw).startswith("not JSON")


@pytest.mark.parametrize(("raw", "kind"), [(b"[1, 2]", "list"), (b'"hello"', "str"), (b"42", "int")])
def test_json_that_is_not_an_object(raw: bytes, kind: str) -> None:
    """Arrays, strings and numbers are valid JSON but not events."""
    reason = reject(raw)
    assert "not a JSON object" in reason
    assert kind in reason


def test_null_value_is_rejected() -> None:
    """A null record value (a Kafka tombstone) is rejected, not treated as empty JSON."""
    assert "empty value" in reject(None)


def test_oversized_record_is_rejected_before_parsing() -> None:
    """A value larger than max_bytes is rejected as oversized (even though it is valid JSON)."""
    raw = click_with(item_id="x" * 200)
    reason = reject(raw, max_bytes=len(raw) - 1)
    assert reason.startswith("oversized")
    assert str(len(raw)) in reason


def test_record_of_exactly_max_bytes_is_accepted() -> None:
    """The limit is inclusive: len(raw) == max_bytes passes."""
    raw = click_with()
    assert parse_event(raw, Click, max_bytes=len(raw)).user_id == "u1"


def test_oversized_check_runs_before_json() -> None:
    """Junk over the limit is reported as oversized, the cheaper check."""
    assert reject(b"x" * 101, max_bytes=100).startswith("oversized")


# -- rejections: schema_version ------------------------------------------------------------


def test_missing_schema_version() -> None:
    """A record without schema_version names the missing field."""
    assert reject(click_without("schema_version")) == "missing field: schema_version"


@pytest.mark.parametrize("version", [2, "1", True, None, 0])
def test_unknown_schema_version(version: Any) -> None:
    """Only the integer 1 is understood; "1" and true are not silently coerced."""
    reason = reject(click_with(schema_version=version))
    assert reason.startswith("unknown schema_version")
    assert repr(version) in reason


# -- rejections: fields ------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["user_id", "item_id", "event_type"])
def test_missing_required_click_field(field: str) -> None:
    """A missing required field is reported as 'missing field: <name>'."""
    assert reject(click_without(field)) == f"missing field: {field}"


def test_several_missing_fields_are_all_reported() -> None:
    """The reason lists every problem, so the producer fixes them in one go."""
    reason = reject(encode({"schema_version": 1, "event_type": "click"}))
    assert "missing field: user_id" in reason
    assert "missing field: item_id" in reason


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("user_id", 123),
        ("item_id", ["i1"]),
        ("ts", "1700000000000"),
        ("ts", True),
        ("ts", 1.5),
        ("rating", "5"),
        ("rating", True),
        ("event_id", 7),
    ],
)
def test_wrong_type_is_not_coerced(field: str, value: Any) -> None:
    """Strict contracts: a wrong JSON type is rejected, naming the field."""
    reason = reject(click_with(**{field: value}))
    assert f"invalid field '{field}'" in reason


def test_unknown_event_type() -> None:
    """An event_type outside the enum is reported with its value."""
    reason = reject(click_with(event_type="purchase"))
    assert reason.startswith("unknown event_type")
    assert "purchase" in reason


def test_rating_event_without_rating() -> None:
    """event_type 'rating' needs a rating value."""
    reason = reject(click_with(event_type="rating"))
    assert "rating" in reason
    assert "requires" in reason


RATING_EVENT = b'{"schema_version": 1, "user_id": "u", "item_id": "i", "event_type": "rating", "rating": '


@pytest.mark.parametrize("literal", [b"10.5", b"-1", b"11", str(2**60).encode(), b"1e400"])
def test_rating_must_be_in_range(literal: bytes) -> None:
    """[0, 10] bounds; an integer too large for a float is a range error, not an OverflowError."""
    reason = reject(RATING_EVENT + literal + b"}")
    assert "invalid field 'rating'" in reason
    assert "[0, 10]" in reason


@pytest.mark.parametrize("literal", [str(2**63).encode(), str(-(2**63) - 1).encode(), b"1" + b"0" * 400])
def test_integers_beyond_64_bits_are_rejected(literal: bytes) -> None:
    assert reject(RATING_EVENT + literal + b"}") == "integer outside the signed 64-bit range"


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_literals_are_not_json(literal: bytes) -> None:
    """Python's json accepts NaN/Infinity; RFC 8259 (and DuckDB's JSON) does not."""
    reason = reject(RATING_EVENT + literal + b"}")
    assert reason == f"not JSON: {literal.decode()} is not a JSON value (RFC 8259)"


@pytest.mark.parametrize("rating", [0, 10, 0.5, 9.99])
def test_rating_bounds_are_inclusive(rating: float) -> None:
    """0 and 10 are valid ratings."""
    assert parse_event(click_with(event_type="rating", rating=rating), Click).rating == float(rating)


def test_empty_user_id() -> None:
    """Ids must be non-empty."""
    assert "invalid field 'user_id'" in reject(click_with(user_id=""))


def test_user_id_longer_than_256() -> None:
    """Ids are bounded at 256 characters; 256 is fine, 257 is not."""
    assert parse_event(click_with(user_id="u" * 256), Click).user_id == "u" * 256
    reason = reject(click_with(user_id="u" * 257))
    assert "invalid field 'user_id'" in reason
    assert "256" in reason


def test_negative_ts() -> None:
    """Event time is epoch ms, never negative."""
    assert "invalid field 'ts'" in reject(click_with(ts=-1))


def test_lone_surrogate_in_id_is_rejected() -> None:
    """An escaped lone surrogate cannot be stored as UTF-8 later, so it is rejected now."""
    raw = b'{"schema_version": 1, "user_id": "\\ud800", "item_id": "i", "event_type": "click"}'
    assert reject(raw) == "lone surrogate (not Unicode) in a string"


# -- acceptance ----------------------------------------------------------------------------------


def test_minimal_click() -> None:
    """The four required fields are enough; optional fields default to None."""
    click = parse_event(click_with(), Click)
    assert (click.user_id, click.item_id, click.event_type) == ("u1", "i1", "click")
    assert click.event_id is None
    assert click.rating is None
    assert click.ts is None


def test_int_rating_becomes_float() -> None:
    """A rating of 4 is a number: it is accepted and stored as 4.0."""
    click = parse_event(click_with(event_type="rating", rating=4, ts=1_700_000_000_000), Click)
    assert click.rating == 4.0
    assert isinstance(click.rating, float)
    assert click.ts == 1_700_000_000_000


def test_unknown_extra_fields_are_ignored() -> None:
    """Producers may add fields before consumers know them."""
    click = parse_event(click_with(session="s-9", nested={"a": [1, 2]}), Click)
    assert click.user_id == "u1"
    assert not hasattr(click, "session")


def test_item_with_categories_and_attributes() -> None:
    """A catalog item keeps its categories (in order) and free-form attributes."""
    raw = encode(
        {
            "schema_version": 1,
            "item_id": "m1",
            "title": "Heat (1995)",
            "description": "A heist.",
            "categories": ["Action", "Crime"],
            "attributes": {"year": 1995, "tags": ["la"]},
        }
    )
    item = parse_event(raw, Item)
    assert item.categories == ["Action", "Crime"]
    assert item.attributes == {"year": 1995, "tags": ["la"]}
    assert item.description == "A heist."


def test_item_defaults_and_missing_title() -> None:
    """Categories and attributes default to empty; a title is required."""
    item = parse_event(encode({"schema_version": 1, "item_id": "m1", "title": "T"}), Item)
    assert item.categories == []
    assert item.attributes == {}
    assert reject(encode({"schema_version": 1, "item_id": "m1"}), Item) == "missing field: title"


def test_deletion_with_and_without_item_ids() -> None:
    """item_ids is optional (None = the whole user) but may not be an empty list."""
    base = {"schema_version": 1, "request_id": "r1", "user_id": "u1", "requested_at": 5}
    whole = parse_event(encode(base), Deletion)
    assert whole.item_ids is None
    partial = parse_event(encode({**base, "item_ids": ["a", "b"]}), Deletion)
    assert partial.item_ids == ["a", "b"]
    assert "invalid field 'item_ids'" in reject(encode({**base, "item_ids": []}), Deletion)
    assert reject(encode({k: v for k, v in base.items() if k != "requested_at"}), Deletion) == (
        "missing field: requested_at"
    )


# -- parser robustness (bugs) -----------------------------------------------------------------


def test_deeply_nested_json_is_rejected_not_raised() -> None:
    """A 40 KB deeply nested array is under the size limit; it must become a dead letter."""
    raw = b"[" * 20_000 + b"]" * 20_000
    assert len(raw) < DEFAULT_MAX_BYTES
    assert reject(raw).startswith("not JSON")


def test_huge_integer_literal_is_rejected_not_raised() -> None:
    """An integer with more than 4300 digits makes json.loads raise a plain ValueError."""
    raw = b'{"schema_version": 1, "user_id": "u", "item_id": "i", "event_type": "click", "ts": '
    raw += b"9" * 5000 + b"}"
    reason = reject(raw)
    assert "ts" in reason or reason.startswith("not JSON")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_non_utf8_json_encodings_are_rejected(encoding: str) -> None:
    """The wire is UTF-8 JSON; UTF-16 bytes are non-UTF-8 and must be a dead letter."""
    reject(json.dumps(CLICK).encode(encoding))


# -- derive_event_id -------------------------------------------------------------------------------


def _click(**changes: Any) -> Click:
    return parse_event(encode({**CLICK, "event_type": "rating", "rating": 4.0, **changes}), Click)


def test_derive_event_id_is_deterministic() -> None:
    """The same content and ts give the same id (re-sends are idempotent)."""
    assert derive_event_id(_click(), 1000) == derive_event_id(_click(), 1000)
    assert derive_event_id(_click(), 1000).startswith("d-")


def test_derive_event_id_ignores_fields_outside_the_hash() -> None:
    """A producer-supplied ts in the record does not matter; the ts argument does."""
    assert derive_event_id(_click(ts=1), 1000) == derive_event_id(_click(ts=2), 1000)


@pytest.mark.parametrize(
    "changes",
    [{"user_id": "u2"}, {"item_id": "i2"}, {"event_type": "like", "rating": 4.0}, {"rating": 4.5}],
)
def test_derive_event_id_differs_for_different_content(changes: dict[str, Any]) -> None:
    """Any change of user, item, type or rating gives a different id."""
    assert derive_event_id(_click(**changes), 1000) != derive_event_id(_click(), 1000)


def test_derive_event_id_differs_for_different_ts() -> None:
    """The same interaction at another time is another event."""
    assert derive_event_id(_click(), 1000) != derive_event_id(_click(), 1001)


def test_derive_event_id_distinguishes_no_rating_from_zero() -> None:
    """A click without rating and one with rating 0.0 are different events."""
    plain = parse_event(click_with(), Click)
    zero = parse_event(click_with(rating=0), Click)
    assert derive_event_id(plain, 1) != derive_event_id(zero, 1)


# -- dead_letter_for -------------------------------------------------------------------------------


def test_dead_letter_keeps_utf8_text_as_is() -> None:
    """A UTF-8 value is stored as text, with its coordinates and the reason."""
    raw = '{"user_id": "zoë"'.encode()
    letter = dead_letter_for(
        source_topic="clicks", partition=3, offset=41, error="not JSON: x", raw=raw, key=b"zo\xc3\xab"
    )
    assert letter.value == '{"user_id": "zoë"'
    assert letter.value_encoding == "utf-8"
    assert letter.key == "zoë"
    assert (letter.source_topic, letter.partition, letter.offset) == ("clicks", 3, 41)
    assert letter.error == "not JSON: x"
    assert letter.schema_version == 1


def test_dead_letter_base64_encodes_non_utf8_bytes() -> None:
    """Non-UTF-8 bytes are base64 so the original bytes are recoverable exactly."""
    raw = b"\xff\xfe\x00binary\x80"
    letter = dead_letter_for(source_topic="items", partition=0, offset=7, error="e", raw=raw, key=None)
    assert letter.value_encoding == "base64"
    assert base64.b64decode(letter.value) == raw
    assert letter.key is None


def test_dead_letter_for_null_value() -> None:
    """A null record becomes an empty text value (the reason says it was null)."""
    letter = dead_letter_for(source_topic="clicks", partition=1, offset=2, error="empty", raw=None, key=b"k")
    assert letter.value == ""
    assert letter.value_encoding == "utf-8"
    assert letter.key == "k"


def test_dead_letter_round_trips_through_json() -> None:
    """The dead letter itself serialises (it is published to a topic)."""
    letter = dead_letter_for(source_topic="clicks", partition=1, offset=2, error="e", raw=b"\x80", key=None)
    again = type(letter).model_validate_json(letter.model_dump_json())
    assert again == letter


# -- the id alphabet and text rules (README, "Event contracts") ------------------------------------


@pytest.mark.parametrize(
    "user_id",
    [
        "u\u0007",
        "u\u007f",
        "u\u0085",
        "\u202eevil",
        "zero\u200bwidth",
        "line\u2028sep",
        "para\u2029",
        "\ue000",
    ],
)
def test_ids_reject_control_format_private_and_separator_characters(user_id: str) -> None:
    reason = reject(click_with(user_id=user_id))
    assert reason.startswith("invalid field 'user_id'")
    assert f"U+{ord(next(c for c in user_id if not c.isalnum())):04X}" in reason


@pytest.mark.parametrize("user_id", ["alice", "user 42", "Zoë", "用户", "🎬🍿", "a/b:c@d", "x" * 256])
def test_ids_accept_any_printable_text(user_id: str) -> None:
    assert parse_event(click_with(user_id=user_id), Click).user_id == user_id


def item(**changes: Any) -> bytes:
    return encode({"schema_version": 1, "item_id": "i1", "title": "Heat (1995)", **changes})


@pytest.mark.parametrize("title", ["two\nlines", "tab\there", "bell\u0007", "sep\u2028"])
def test_titles_and_categories_are_single_line(title: str) -> None:
    assert reject(item(title=title), Item).startswith("invalid field 'title'")
    assert reject(item(categories=[title]), Item).startswith("invalid field 'categories.0'")


def test_descriptions_keep_tabs_and_newlines_but_no_other_controls() -> None:
    text = "Line one.\n\tLine two.\r\n"
    assert parse_event(item(description=text), Item).description == text
    assert reject(item(description="esc\u001b[31m"), Item).startswith("invalid field 'description'")


def test_dead_letter_of_a_record_with_nul_is_base64() -> None:
    """A dead letter must pass the wire checks itself, so NUL-bearing values go as base64."""
    raw = b'{"a": "\x00"}'
    letter = dead_letter_for(source_topic="clicks", partition=0, offset=1, error="x", raw=raw, key=b"k\x00")
    assert letter.value_encoding == "base64"
    assert base64.b64decode(letter.value) == raw
    assert letter.key == "k\\x00"
    assert parse_event(letter.model_dump_json().encode(), type(letter)) == letter
