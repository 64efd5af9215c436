"""Turn raw Kafka record values into validated contracts, or into a precise rejection reason.

Agents consume raw bytes (not Faust's own deserialisation) because a deserialisation error
inside Faust happens before the agent sees the record, and the record would be skipped with
only a log line. Here every failure becomes an :class:`InvalidEvent` whose reason is written to
the dead-letter topic, so nothing is silently lost.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import from_json

from streams.contracts.events import SCHEMA_VERSION, Click, DeadLetter
from streams.exceptions import InvalidEvent

__all__ = [
    "DEFAULT_MAX_BYTES",
    "INT64_MAX",
    "INT64_MIN",
    "MAX_DEPTH",
    "check_json_values",
    "dead_letter_for",
    "derive_event_id",
    "parse_event",
    "values_surely_within_limits",
]

DEFAULT_MAX_BYTES = 64 * 1024  # a click is ~200 bytes; anything this large is abuse or a bug
MAX_REASON_CHARS = 1_000  # a reason quotes little of the input; the value itself is kept whole
MAX_DEPTH = 16  # an event is 2 levels deep; item attributes may nest a little
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")

ContractT = TypeVar("ContractT", bound=BaseModel)


def parse_event(
    raw: bytes | None, contract: type[ContractT], max_bytes: int = DEFAULT_MAX_BYTES
) -> ContractT:
    """Validate one record value against ``contract``.

    Checks run cheapest first (size, JSON, object shape, version) so that a flood of junk
    costs little. Raises :class:`InvalidEvent` with a one-line reason.
    """
    if raw is None:
        raise InvalidEvent("empty value (tombstone or null record)")
    if len(raw) > max_bytes:
        raise InvalidEvent(f"oversized: {len(raw)} bytes > limit {max_bytes}")
    # The raw screen is a property of the bytes, so it can run first; the fast parser only
    # sees records it passes (plain ones: no escapes, huge integers or deep nesting).
    surely_within_limits = values_surely_within_limits(raw)
    data = _plain_json_object(raw) if surely_within_limits else None
    if data is None:
        try:
            # Decode explicitly: json.loads(bytes) would also accept UTF-16/32. RecursionError
            # and ValueError cover hostile nesting and over-long integer literals.
            data = _DECODER.decode(raw.decode("utf-8"))
        except _Malformed as exc:
            raise InvalidEvent(str(exc)) from None
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise InvalidEvent(f"not JSON: {str(exc)[:200]}") from None
    if not isinstance(data, dict):
        raise InvalidEvent(f"not a JSON object: got {type(data).__name__}")
    if not surely_within_limits:
        problem = check_json_values(data)
        if problem is not None:
            raise InvalidEvent(problem)
    version = data.get("schema_version")
    if "schema_version" not in data:
        raise InvalidEvent("missing field: schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:
        raise InvalidEvent(f"unknown schema_version: {version!r} (supported: {SCHEMA_VERSION})")
    try:
        return contract.model_validate(data)
    except ValidationError as exc:
        raise InvalidEvent(_describe(exc)) from None


class _Malformed(ValueError):
    """JSON that Python's parser accepts but the contract's wire format does not."""


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN, Infinity and -Infinity; RFC 8259 does not, DuckDB's JSON type
    # and most consumers would fail on them later, and NaN != NaN breaks "read back unchanged".
    raise _Malformed(f"not JSON: {name} is not a JSON value (RFC 8259)")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Parsers disagree on duplicate keys (first or last wins): a value that one consumer reads
    # as user "a" and another as user "b" is rejected rather than guessed at.
    out = dict(pairs)  # built in C; only a shorter dict than the pairs has a duplicate to name
    if len(out) == len(pairs):
        return out
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise _Malformed(f"duplicate key: {key[:64]!r}")
        seen.add(key)
    raise AssertionError("unreachable: a shorter dict means a repeated key")


# One decoder for every record: ``json.loads`` with hooks builds a new JSONDecoder per call,
# which the ingest profile showed (``python -m streams.bench.ingest_ceiling``).
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, object_pairs_hook=_unique_keys)


# ``raw.translate(_DIGIT_MASK)`` turns every digit into "0" and every other byte into " ", so a
# run of 19 digits (10**18 - 1 is the longest run INT64 surely holds) is a run of 19 zeros:
# two passes in C, four times cheaper than the regular expression ``[0-9]{19}``.
_DIGIT_MASK = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_DIGITS = b"0" * 19


def _plain_json_object(raw: bytes) -> dict[str, Any] | None:
    """``raw`` parsed by pydantic's JSON parser (jiter, four times faster than ``json``), if
    that is surely what the strict parser (``_DECODER``) would return; None means "use it".

    Only called on records that :func:`values_surely_within_limits` passed (no ``\\u``
    escape, no run of 19 digits, shallow): the others are rare, get walked anyway, and are
    where the parsers' own limits (lone surrogates, 4,300-digit integers, recursion) come into
    play; jiter raising on those would only send them the slow way. The record must also be
    ASCII (strict UTF-8 then has nothing to reject), free of the tokens ``NaN`` and
    ``Infinity`` (jiter accepts them, RFC 8259 does not), and hold exactly as many ``:``
    bytes as the parsed object has keys. Every key is followed by one ``:``, so that
    count proves that no key repeats (jiter keeps the last value of a repeated key silently,
    where ``_unique_keys`` rejects it) and that no nested object has keys; a ``:`` inside a
    string only sends the record the slow way. On everything else the two parsers agree,
    including what they reject; anything jiter rejects goes the slow way for the reason.
    ``tests/streams/contracts/test_fast_paths.py`` compares them with hypothesis.
    """
    if not raw.isascii() or b"NaN" in raw or b"Infinity" in raw:
        return None
    try:
        data = from_json(raw)
    except ValueError:
        return None
    if type(data) is not dict or raw.count(b":") != len(data):
        return None
    return data


def values_surely_within_limits(raw: bytes) -> bool:
    """True only if the JSON text ``raw`` cannot break a limit of :func:`check_json_values`.

    Why: that walk visits every value in Python and was the largest share of validation in
    the ingest profile, while almost every real record is plain ASCII JSON two levels deep.
    Three scans in C prove such a record clean; False means "walk it", never "bad". Each
    condition is sufficient, given that ``raw`` decoded as strict UTF-8 and parsed as JSON:

    * no ``\\u`` escape: NUL and lone surrogates can only come from one (a raw NUL is not
      allowed in JSON text, and strict UTF-8 has no surrogates);
    * at most ``MAX_DEPTH`` ``{`` and ``[`` bytes in all: every nesting level needs one;
    * no run of 19 digits: a JSON integer outside signed 64 bits has at least 19.

    ``tests/streams/contracts/test_fast_paths.py`` checks it against the walk with hypothesis.
    """
    return (
        b"\\u" not in raw
        and raw.count(b"{") + raw.count(b"[") <= MAX_DEPTH
        and _LONG_DIGITS not in raw.translate(_DIGIT_MASK)
    )


def check_json_values(data: Any) -> str | None:
    """The wire limits every parsed value obeys, or the first violation as a reason.

    * nesting at most ``MAX_DEPTH`` levels (the 64 KiB size cap alone still allows thousands);
    * integers within signed 64 bits (DuckDB ``BIGINT``, Java and JavaScript consumers);
    * strings and keys without NUL or lone surrogates (``"\\ud800"`` is valid JSON text but not
      Unicode: DuckDB and Arrow cannot store it, and UTF-8 cannot encode it).
    """
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                return f"nested deeper than {MAX_DEPTH} levels"
            if isinstance(value, dict):
                for key in value:
                    problem = _string_problem(key)
                    if problem is not None:
                        return f"{problem} in a key"
                stack.extend((v, depth + 1) for v in value.values())
            else:
                stack.extend((v, depth + 1) for v in value)
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
            return "integer outside the signed 64-bit range"
        elif isinstance(value, str):
            problem = _string_problem(value)
            if problem is not None:
                return f"{problem} in a string"
    return None


def _string_problem(text: str) -> str | None:
    if "\x00" in text:
        return "NUL character"
    if _SURROGATE.search(text):
        return "lone surrogate (not Unicode)"
    return None


def _describe(exc: ValidationError) -> str:
    """Summarise pydantic errors as ``missing field: x`` / ``invalid field 'y': why``."""
    parts: list[str] = []
    for error in exc.errors(include_url=False):
        location = ".".join(str(part) for part in error["loc"])
        if error["type"] == "missing":
            parts.append(f"missing field: {location}")
        elif error["type"] == "literal_error" and location == "event_type":
            parts.append(f"unknown event_type: {error.get('input')!r}")
        elif location:
            parts.append(f"invalid field '{location}': {error['msg']}")
        else:
            parts.append(error["msg"])
    return "; ".join(parts)


def derive_event_id(click: Click, ts: int) -> str:
    """A content hash, so re-sending an identical event (same ts) is idempotent.

    ``ts`` is passed separately because it may come from the Kafka timestamp.
    """
    payload: dict[str, Any] = {
        "u": click.user_id,
        "i": click.item_id,
        "t": click.event_type,
        "r": click.rating,
        "ts": ts,
    }
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    return f"d-{digest[:32]}"


def dead_letter_for(
    *, source_topic: str, partition: int, offset: int, error: str, raw: bytes | None, key: bytes | None
) -> DeadLetter:
    """Wrap a rejected record so the original bytes survive, as text when possible."""
    value_bytes = raw or b""
    try:
        value, encoding = value_bytes.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        value, encoding = "", "base64"
    if encoding == "base64" or "\x00" in value:
        # A dead letter must itself pass the wire checks (no NUL in strings): base64 then.
        value, encoding = base64.b64encode(value_bytes).decode("ascii"), "base64"
    key_text: str | None = None
    if key is not None:
        key_text = key.decode("utf-8", errors="backslashreplace").replace("\x00", "\\x00")
    return DeadLetter(
        schema_version=SCHEMA_VERSION,
        source_topic=source_topic,
        partition=partition,
        offset=offset,
        error=error[:MAX_REASON_CHARS],
        value=value,
        value_encoding=encoding,  # type: ignore[arg-type]
        key=key_text,
    )
