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
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from streams.contracts.events import SCHEMA_VERSION, Click, DeadLetter
from streams.exceptions import InvalidEvent

__all__ = ["parse_event", "derive_event_id", "dead_letter_for", "DEFAULT_MAX_BYTES"]

DEFAULT_MAX_BYTES = 64 * 1024  # a click is ~200 bytes; anything this large is abuse or a bug

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
    try:
        # Decode explicitly: json.loads(bytes) would also accept UTF-16/32. RecursionError and
        # ValueError cover hostile nesting and over-long integer literals.
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidEvent(f"not JSON: {str(exc)[:200]}") from None
    if not isinstance(data, dict):
        raise InvalidEvent(f"not a JSON object: got {type(data).__name__}")
    version = data.get("schema_version")
    if "schema_version" not in data:
        raise InvalidEvent("missing field: schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:
        raise InvalidEvent(f"unknown schema_version: {version!r} (supported: {SCHEMA_VERSION})")
    try:
        return contract.model_validate(data)
    except ValidationError as exc:
        raise InvalidEvent(_describe(exc)) from None


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
        value, encoding = base64.b64encode(value_bytes).decode("ascii"), "base64"
    key_text: str | None = None
    if key is not None:
        key_text = key.decode("utf-8", errors="backslashreplace")
    return DeadLetter(
        schema_version=SCHEMA_VERSION,
        source_topic=source_topic,
        partition=partition,
        offset=offset,
        error=error,
        value=value,
        value_encoding=encoding,  # type: ignore[arg-type]
        key=key_text,
    )
