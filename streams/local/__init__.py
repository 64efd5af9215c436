"""The embedded local stack behind ``streamrec up``: the Tansu broker and the supervisor.

It starts the Triton launcher from ``serving`` but owns nothing of serving; in production
these parts are replaced by a Kafka cluster and NVIDIA's Triton image (``deploy/``). Import
from here: ``from streams.local import Stack``.
"""

from streams.local.broker import TansuBroker, port_is_free, wait_for_port
from streams.local.supervisor import Endpoints, Stack, worker_ready

__all__ = ["Endpoints", "Stack", "TansuBroker", "port_is_free", "wait_for_port", "worker_ready"]
