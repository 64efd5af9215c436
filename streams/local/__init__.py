"""The embedded local stack behind ``streamrec up``: the Tansu broker and the supervisor.

It starts the Triton launcher from ``serving`` but owns nothing of serving; in production
these parts are replaced by a Kafka cluster and NVIDIA's Triton image (``deploy/``). The worker
and trainer process handles (``processes``) are shared by the end-to-end tests and the
fault-injection suite (``streams.chaos``). Import from here: ``from streams.local import Stack``.
"""

from streams.local.broker import TansuBroker, port_is_free, wait_for_port
from streams.local.processes import TrainerProcess, WorkerProcess, free_port
from streams.local.supervisor import Endpoints, Stack, worker_ready

__all__ = [
    "Endpoints",
    "Stack",
    "TansuBroker",
    "TrainerProcess",
    "WorkerProcess",
    "free_port",
    "port_is_free",
    "wait_for_port",
    "worker_ready",
]
