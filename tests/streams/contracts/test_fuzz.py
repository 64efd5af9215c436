"""Fuzzing every input topic's agent with hypothesis: random JSON, mutated valid events, and the
nasty corners of JSON (integers beyond 64 bits, lone surrogates, NUL, NaN/Infinity literals,
duplicate keys, deep nesting, invalid UTF-8).

The property, per micro-batch, through the agents' real batch handlers and a real DuckDB store:
every record either passes validation and is stored and read back unchanged, or becomes a dead
letter whose reason is non-empty and whose bytes give back the original record exactly. Nothing
raises out of the handler, and a failing durable write is turned into an exception here instead
of the worker's fail-stop ``os._exit`` (which would kill pytest).
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.agents.catalog import handle_item_batch
from streams.agents.clicks import handle_click_batch
from streams.agents.deletions import handle_deletion_batch
from streams.agents.runtime import Runtime, Topics
from streams.contracts import Click, DeadLetter, Deletion, Item, derive_event_id, parse_event
from streams.exceptions import InvalidEvent
from streams.settings import Settings
from streams.store import AsyncStore
from tests.streams.agent_fakes import TIMESTAMP_S, Event, Msg, fail_stop_raises, fake_topics

FUZZ = settings(
    max_examples=60,
    deadline=None,
    # tmp_path only holds an empty data dir (the store is in memory, fresh per example).
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)


# -- strategies ---------------------------------------------------------------------------------

# Any code point, surrogates included: json.dumps escapes them as \\udXXX, which is valid JSON text.
TEXT = st.text(st.characters(codec=None), max_size=12)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()  # unbounded: well beyond 64 bits
    | st.floats(allow_nan=True, allow_infinity=True)
    | TEXT
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
IDS = st.sampled_from(["u1", "user 2", "Ünïcødé", "用户", "🎬", "a" * 256]) | TEXT.filter(bool)
MS = st.integers(0, 32_503_680_000_000)


def valid_click() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"schema_version": st.just(1), "user_id": IDS, "item_id": IDS, "event_type": st.just("click")},
        optional={"event_id": IDS, "ts": MS, "extra": JSON},
    ) | st.fixed_dictionaries(
        {
            "schema_version": st.just(1),
            "user_id": IDS,
            "item_id": IDS,
            "event_type": st.just("rating"),
            "rating": st.floats(0, 10) | st.integers(0, 10),
        }
    )


def valid_item() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"schema_version": st.just(1), "item_id": IDS, "title": TEXT.filter(bool)},
        optional={
            "description": TEXT,
            "categories": st.lists(TEXT, max_size=3),
            "attributes": st.dictionaries(TEXT, JSON, max_size=3),
        },
    )


def valid_deletion() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"schema_version": st.just(1), "request_id": IDS, "user_id": IDS, "requested_at": MS},
        optional={"item_ids": st.lists(IDS, min_size=1, max_size=3)},
    )


def _encode(value: Any, ascii_only: bool) -> bytes:
    # ensure_ascii=False writes a lone surrogate raw: 'surrogatepass' makes that invalid UTF-8.
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[dict[str, Any]]) -> bytes:
    """A valid-looking event, then zero or more mutations at the value, text or byte level."""
    event = dict(draw(base))
    for _ in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(["drop", "retype", "extra", "none"]))
        keys = sorted(event)
        if kind == "drop" and keys:
            event.pop(draw(st.sampled_from(keys)))
        elif kind == "retype" and keys:
            event[draw(st.sampled_from(keys))] = draw(JSON)
        elif kind == "extra":
            event[draw(TEXT)] = draw(JSON)
    raw = _encode(event, draw(st.booleans()))
    corner = draw(
        st.sampled_from(["none", "bytes", "duplicate", "deep", "big-int", "nan", "nul", "surrogate", "utf16"])
    )
    if corner == "bytes" and raw:
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + draw(st.integers(0, 2)) :]
    elif corner == "duplicate" and event:
        key = json.dumps(draw(st.sampled_from(sorted(event))))
        raw = b"{" + key.encode() + b': "dup", ' + raw[1:]
    elif corner == "deep":
        depth = draw(st.integers(10, 3000))
        raw = raw[:-1] + b', "nest": ' + b"[" * depth + b"]" * depth + b"}"
    elif corner == "big-int":
        digits = draw(st.integers(19, 5000))
        raw = raw[:-1] + b', "n": 9' + b"9" * digits + b"}"
    elif corner == "nan":
        raw = raw[:-1] + b', "x": ' + draw(st.sampled_from([b"NaN", b"Infinity", b"-Infinity"])) + b"}"
    elif corner == "nul":
        raw = raw.replace(b'"', b'"\\u0000', 1)
    elif corner == "surrogate":
        raw = raw.replace(b'"', b'"\\udc80', 1)
    elif corner == "utf16":
        raw = raw.decode("utf-8", "surrogatepass").encode("utf-16", "surrogatepass")
    return raw


def records(base: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[list[bytes | None]]:
    one = mutated(base) | JSON.map(lambda v: _encode(v, True)) | st.binary(max_size=64) | st.none()
    return st.lists(one, min_size=1, max_size=5)


# -- the harness --------------------------------------------------------------------------------

Handler = Callable[[Runtime, Topics, list[Any]], Any]


def run_batch(tmp: Path, topic: str, raws: list[bytes | None], handle: Handler) -> tuple[Topics, list[Any]]:
    """Feed one micro-batch to ``handle`` with a fresh store; returns the topics and the rows."""
    events = [Event(Msg(topic, 0, offset, raw, key=b"k")) for offset, raw in enumerate(raws)]
    topics = fake_topics()
    tables = {"clicks": "interactions", "items": "items", "deletions": "deletion_requests"}
    queries = {
        "interactions": "SELECT event_id, user_id, item_id, event_type, rating, ts FROM interactions",
        "items": "SELECT item_id, title, description, categories, attributes FROM items",
        "deletion_requests": "SELECT request_id, item_ids, requested_at FROM deletion_requests",
    }

    async def scenario() -> list[Any]:
        runtime = Runtime(settings=Settings(data_dir=tmp), store=AsyncStore(":memory:"))
        try:
            await handle(runtime, topics, events)
            sql = queries[tables[topic]]
            return await runtime.store.run(lambda s: s.audit.query(sql))
        finally:
            runtime.store.close()

    with fail_stop_raises():
        rows = asyncio.run(scenario())
    return topics, rows


def expected_outcome(raws: list[bytes | None], contract: type[Any]) -> tuple[dict[int, Any], set[int]]:
    """Offsets the validator accepts (with their value) and the offsets it rejects."""
    accepted: dict[int, Any] = {}
    rejected: set[int] = set()
    for offset, raw in enumerate(raws):
        try:
            accepted[offset] = parse_event(raw, contract)
        except InvalidEvent:
            rejected.add(offset)
            continue
        assert_within_documented_limits(raw)
    return accepted, rejected


FORBIDDEN_IN_IDS = {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"}  # the README's id rule, restated here
ID_FIELDS = {"user_id", "item_id", "event_id", "request_id"}


def assert_within_documented_limits(raw: bytes | None) -> None:
    """An independent restatement of the wire limits (README, "Event contracts"), so that an
    accepted record that breaks one fails the test even though the validator accepted it."""
    assert raw is not None and len(raw) <= 64 * 1024
    pairs_seen: list[list[str]] = []
    data = json.loads(
        raw.decode("utf-8"), object_pairs_hook=lambda p: pairs_seen.append([k for k, _ in p]) or dict(p)
    )
    assert all(len(keys) == len(set(keys)) for keys in pairs_seen), "duplicate keys"
    stack: list[tuple[Any, int, str]] = [(data, 1, "")]
    while stack:
        value, depth, name = stack.pop()
        if isinstance(value, dict):
            assert depth <= 16
            for key, inner in value.items():
                assert "\x00" not in key and not any(0xD800 <= ord(c) <= 0xDFFF for c in key)
                stack.append((inner, depth + 1, key))
        elif isinstance(value, list):
            assert depth <= 16
            stack.extend((inner, depth + 1, name) for inner in value)
        elif isinstance(value, float):
            assert math.isfinite(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            assert -(2**63) <= value < 2**63
        elif isinstance(value, str):
            assert "\x00" not in value and not any(0xD800 <= ord(c) <= 0xDFFF for c in value)
            if name in ID_FIELDS and depth == 2 or name == "item_ids":
                assert not any(unicodedata.category(c) in FORBIDDEN_IN_IDS for c in value), repr(value)


def check_dead_letters(topics: Topics, raws: list[bytes | None], rejected: set[int]) -> None:
    sent = topics.dead_letters.sent  # type: ignore[attr-defined]
    letters = [parse_event(value, DeadLetter) for _, value in sent]  # a dead letter is valid on the wire
    assert {letter.offset for letter in letters} == rejected
    assert len(letters) == len(rejected)
    for letter in letters:
        assert letter.error.strip()
        original = raws[letter.offset] or b""
        restored = (
            base64.b64decode(letter.value)
            if letter.value_encoding == "base64"
            else letter.value.encode("utf-8")
        )
        assert restored == original


# -- the properties -----------------------------------------------------------------------------


@FUZZ
@given(raws=records(valid_click()))
def test_fuzzed_clicks_are_stored_exactly_or_dead_lettered(tmp_path: Path, raws: list[bytes | None]) -> None:
    topics, rows = run_batch(tmp_path, "clicks", raws, handle_click_batch)
    accepted, rejected = expected_outcome(raws, Click)
    check_dead_letters(topics, raws, rejected)
    expected: dict[str, tuple[Any, ...]] = {}
    for click in accepted.values():
        ts = click.ts if click.ts is not None else int(TIMESTAMP_S * 1000)
        event_id = click.event_id or derive_event_id(click, ts)
        expected.setdefault(
            event_id, (event_id, click.user_id, click.item_id, click.event_type, click.rating, ts)
        )
    assert sorted(rows) == sorted(expected.values())


@FUZZ
@given(raws=records(valid_item()))
def test_fuzzed_items_are_stored_exactly_or_dead_lettered(tmp_path: Path, raws: list[bytes | None]) -> None:
    topics, rows = run_batch(tmp_path, "items", raws, handle_item_batch)
    accepted, rejected = expected_outcome(raws, Item)
    check_dead_letters(topics, raws, rejected)
    latest: dict[str, Item] = {}
    for item in accepted.values():
        latest[item.item_id] = item  # newest value wins
    stored = {r[0]: (r[1], r[2], list(r[3]), json.loads(r[4])) for r in rows}
    assert stored == {
        i.item_id: (i.title, i.description, list(i.categories), i.attributes) for i in latest.values()
    }


@FUZZ
@given(raws=records(valid_deletion()))
def test_fuzzed_deletions_are_recorded_exactly_or_dead_lettered(
    tmp_path: Path, raws: list[bytes | None]
) -> None:
    async def handle(runtime: Runtime, topics: Topics, events: list[Any]) -> int:
        return await handle_deletion_batch(runtime, topics, None, events)

    topics, rows = run_batch(tmp_path, "deletions", raws, handle)
    accepted, rejected = expected_outcome(raws, Deletion)
    check_dead_letters(topics, raws, rejected)
    first: dict[str, Deletion] = {}
    for request in accepted.values():
        first.setdefault(request.request_id, request)  # idempotent by request_id
    stored = {r[0]: (None if r[1] is None else list(r[1]), r[2]) for r in rows}
    assert stored == {d.request_id: (d.item_ids, d.requested_at) for d in first.values()}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"schema_version": 1, "schema_version": 1}', "duplicate key: 'schema_version'"),
        (b'{"schema_version": 1, "a": ' + b"[" * 17 + b"]" * 17 + b"}", "nested deeper than 16 levels"),
        (b'{"schema_version": 1, "a": "x\\u0000"}', "NUL character in a string"),
        (b'{"schema_version": 1, "\\ud800": 1}', "lone surrogate (not Unicode) in a key"),
        (b'{"schema_version": 1, "a": [18446744073709551616]}', "integer outside the signed 64-bit range"),
    ],
)
def test_wire_corners_name_their_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidEvent) as info:
        parse_event(raw, Click)
    assert info.value.reason == reason


def test_sixteen_levels_of_nesting_are_allowed() -> None:
    raw = (
        b'{"schema_version": 1, "item_id": "i", "title": "t", "attributes": {"a": '
        + b"[" * 14
        + b"]" * 14
        + b"}}"
    )
    assert parse_event(raw, Item).attributes == {"a": [[[[[[[[[[[[[[]]]]]]]]]]]]]]}
