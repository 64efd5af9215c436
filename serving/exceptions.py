"""Exceptions raised by the ``serving`` package, all rooted at :class:`ServingError`.

Callers that only want "scoring did not work, fall back to something else" catch
``ServingError``; ``ScoringUnavailable`` (retry later) and ``ScoringRejected`` (the request
itself is bad, retrying will not help) let them be more precise.
"""

__all__ = [
    "ContractError",
    "PortInUse",
    "ScoringRejected",
    "ScoringUnavailable",
    "ServingError",
    "TritonNotHealthy",
]


class ServingError(Exception):
    """Root of all errors raised by ``serving``."""


class ContractError(ServingError, ValueError):
    """A tensor does not match ``serving.contract`` (wrong dtype, shape or encoding)."""


class ScoringUnavailable(ServingError):
    """Triton could not be reached, timed out, or failed internally; retrying may work."""


class ScoringRejected(ServingError):
    """Triton rejected the request as invalid (e.g. no candidates); retrying will not help."""


class PortInUse(ServingError):
    """A port the launcher needs is already taken."""

    def __init__(self, port: int, host: str) -> None:
        super().__init__(f"port {port} on {host} is already in use")
        self.port = port
        self.host = host


class TritonNotHealthy(ServingError):
    """tritonserver exited or did not become ready in time; the message ends with its log."""
