"""Retry a durable write until it succeeds, or stop the process before Kafka moves on.

Faust acknowledges a batch's offsets when the agent asks for the next batch, even if the agent
swallowed an error. A failed DuckDB write therefore must not simply be logged: the records would
be committed in Kafka without being stored. We retry with backoff and, if the store stays
broken, exit hard (fail-stop) so the uncommitted records are redelivered to the next worker.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["durably", "FAIL_STOP_EXIT_CODE"]

T = TypeVar("T")
log = logging.getLogger(__name__)

FAIL_STOP_EXIT_CODE = 75  # EX_TEMPFAIL: the supervisor reports it, a restart retries


async def durably(what: str, write: Callable[[], Awaitable[T]], attempts: int = 5) -> T:
    """Run ``write`` with exponential backoff; exit the process if it keeps failing."""
    delay = 0.2
    for attempt in range(1, attempts + 1):
        try:
            return await write()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("durable write %s failed (attempt %d/%d)", what, attempt, attempts)
            if attempt == attempts:
                break
            await asyncio.sleep(delay)
            delay *= 2
    log.critical("durable write %s keeps failing; stopping the worker without committing", what)
    os._exit(FAIL_STOP_EXIT_CODE)
