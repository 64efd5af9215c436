"""Calls to the worker's HTTP API from other processes (the CLI, the trainer).

The worker is the only process that opens the DuckDB file while it runs, so everyone else asks
it: for a training snapshot, for the dirty shards, to report a retrain. Errors are typed so
that a long-running caller (the trainer) can retry and a command can print a clear message.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from streams.exceptions import StreamrecError

__all__ = ["WorkerRefused", "WorkerUnavailable", "call_worker"]


class WorkerUnavailable(StreamrecError):
    """The worker did not answer (not running, restarting, or too slow)."""


class WorkerRefused(StreamrecError):
    """The worker answered with an HTTP error; the message is its reason."""


def call_worker(
    web_url: str, path: str, payload: dict[str, Any] | None = None, timeout_s: float = 30.0
) -> Any:
    """GET ``path`` (or POST ``payload`` as JSON) and return the decoded JSON answer."""
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(
        f"{web_url}{path}", data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        raise WorkerRefused(f"{path}: HTTP {exc.code}: {exc.read().decode(errors='replace')}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise WorkerUnavailable(f"worker not reachable at {web_url}: {exc}") from None
    try:
        return json.loads(body)
    except ValueError:
        raise WorkerRefused(f"{path}: the answer is not JSON: {body[:200]!r}") from None
