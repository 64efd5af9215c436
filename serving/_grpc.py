"""The part every Triton model client shares: one lazy gRPC channel and error translation.

``RecommenderClient`` and ``SummarizerClient`` differ only in the tensors they send and
read; connecting, timing a call, readiness checks and mapping Triton's errors onto
``serving.exceptions`` are the same and live here, so the two cannot drift apart (a status
code treated as "retry" by one client and "give up" by the other, say).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import tritonclient.grpc.aio as grpcclient
from tritonclient.utils import InferenceServerException

from serving.exceptions import ScoringRejected, ScoringUnavailable

log = logging.getLogger(__name__)

# gRPC status codes meaning "this request is wrong", as tritonclient reports them.
_REJECTED_STATUSES = ("StatusCode.INVALID_ARGUMENT",)

# gRPC backs off exponentially between reconnect attempts (1 s growing to 120 s by default), so
# after a 30 s Triton outage the channel could sit idle for tens of seconds after the server
# came back (measured: LLM scores resumed 37 s after Triton was ready; ``make chaos``,
# scenario 2). The breaker already limits how often we try; the channel should not add its
# own long wait on top. Passing ``channel_args`` replaces tritonclient's defaults, so they are
# restated here.
RECONNECT_BACKOFF_MS = (250, 2_000)  # first, most


def channel_args() -> list[tuple[str, int | bool]]:
    keepalive = grpcclient.KeepAliveOptions()
    first, most = RECONNECT_BACKOFF_MS
    return [
        ("grpc.max_send_message_length", grpcclient.MAX_GRPC_MESSAGE_SIZE),
        ("grpc.max_receive_message_length", grpcclient.MAX_GRPC_MESSAGE_SIZE),
        ("grpc.keepalive_time_ms", keepalive.keepalive_time_ms),
        ("grpc.keepalive_timeout_ms", keepalive.keepalive_timeout_ms),
        ("grpc.keepalive_permit_without_calls", keepalive.keepalive_permit_without_calls),
        ("grpc.http2.max_pings_without_data", keepalive.http2_max_pings_without_data),
        ("grpc.initial_reconnect_backoff_ms", first),
        ("grpc.min_reconnect_backoff_ms", first),
        ("grpc.max_reconnect_backoff_ms", most),
    ]


class TritonModelConnection:
    """A lazily opened channel to one model on one server. ``owner`` names the client in errors."""

    def __init__(self, owner: str, url: str, model_name: str, timeout_s: float) -> None:
        if not url or "://" in url:
            raise ValueError(f"{owner}.url must be 'host:port', got {url!r}")
        if timeout_s <= 0:
            raise ValueError(f"{owner}.timeout_s must be > 0, got {timeout_s!r}")
        self.url = url
        self.model_name = model_name
        self.timeout_s = timeout_s
        # Created lazily: a grpc.aio channel binds to the event loop that is running when it
        # is created, and __init__ may run before any loop exists.
        self._client: grpcclient.InferenceServerClient | None = None

    def _connection(self) -> grpcclient.InferenceServerClient:
        if self._client is None:
            self._client = grpcclient.InferenceServerClient(url=self.url, channel_args=channel_args())
        return self._client

    async def infer(
        self, inputs: Sequence[grpcclient.InferInput], outputs: Sequence[str]
    ) -> tuple[grpcclient.InferResult, float]:
        """One inference round trip: the result and its client-side latency in ms."""
        requested = [grpcclient.InferRequestedOutput(name) for name in outputs]
        started = time.perf_counter()
        try:
            result = await self._connection().infer(
                self.model_name, list(inputs), outputs=requested, client_timeout=self.timeout_s
            )
        except InferenceServerException as exc:
            raise translate(exc, self.url, self.model_name) from exc
        return result, (time.perf_counter() - started) * 1000.0

    async def is_ready(self) -> bool:
        """Whether the server is up and the model is loaded; never raises."""
        try:
            client = self._connection()
            return bool(
                await client.is_server_ready(client_timeout=self.timeout_s)
                and await client.is_model_ready(self.model_name, client_timeout=self.timeout_s)
            )
        except InferenceServerException as exc:
            log.debug("readiness check of %s against %s failed: %s", self.model_name, self.url, exc)
            return False

    async def close(self) -> None:
        """Close the gRPC channel; the connection can be used again afterwards (it reconnects)."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()


class TritonModelClient:
    """What every model client exposes besides its own call: where it points, readiness, close.

    Subclasses add the model-specific request (``score``, ``summarize``) on top of
    ``self._triton``.
    """

    def __init__(self, url: str, model_name: str, timeout_s: float) -> None:
        self._triton = TritonModelConnection(type(self).__name__, url, model_name, timeout_s)

    @property
    def url(self) -> str:
        return self._triton.url

    @property
    def model_name(self) -> str:
        return self._triton.model_name

    @property
    def timeout_s(self) -> float:
        return self._triton.timeout_s

    async def is_ready(self) -> bool:
        """Whether the server is up and the model is loaded; never raises."""
        return await self._triton.is_ready()

    async def close(self) -> None:
        """Close the gRPC channel; the client can be used again afterwards (it reconnects)."""
        await self._triton.close()


def translate(
    exc: InferenceServerException, url: str, model_name: str
) -> ScoringRejected | ScoringUnavailable:
    """Triton's error -> ``ScoringRejected`` (the request is invalid) or ``ScoringUnavailable``."""
    status = str(exc.status() or "")
    message = f"{model_name} at {url}: {exc.message() or exc}"
    if status in _REJECTED_STATUSES:
        return ScoringRejected(message)
    return ScoringUnavailable(f"{message} ({status or 'no status'})")


def model_identity(model_name: str, model_ids: Sequence[str], version: object) -> tuple[str, str]:
    """(``"<triton model>/<LM>"``, model version) for a result's provenance."""
    lm = model_ids[0] if model_ids else "unknown"
    return f"{model_name}/{lm}", str(version)
