"""Exceptions raised by the streaming runtime; all derive from :class:`StreamrecError`."""

from __future__ import annotations

__all__ = ["StreamrecError", "InvalidEvent", "StartupError", "PortInUse"]


class StreamrecError(Exception):
    """Root of every error the runtime raises on purpose."""


class InvalidEvent(StreamrecError):
    """A record failed validation; the message is the reason written to ``dead-letters``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StartupError(StreamrecError):
    """A part of the stack (broker, Triton, worker) did not start or become healthy."""


class PortInUse(StartupError):
    """A port the stack needs is already taken by another process."""
