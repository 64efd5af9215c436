"""Locally, every port the stack opens is on the loopback interface, never on 0.0.0.0.

The session's broker, tritonserver and worker are started by the same classes ``streamrec up``
uses (``TansuBroker``, ``serving.launcher.TritonServer``, ``python -m streams.worker``), so
their sockets are what a developer's machine exposes. Listed with psutil from the processes and
all their children (Triton's python backend stubs included); no second stack is started.
"""

from __future__ import annotations

import ipaddress

import psutil

from serving.launcher import TritonServer
from streams.local import TansuBroker
from tests.fixtures.kafka import WorkerProcess

LOOPBACK = {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")}


def on_loopback(address: str) -> bool:
    """127.0.0.1 or ::1; Triton's gRPC binds an IPv6 socket to ``::ffff:127.0.0.1``, which is
    the same IPv4 loopback address seen through a dual-stack socket."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip in LOOPBACK


def listening_sockets(pid: int) -> list[tuple[str, str, int]]:
    """(process name, address, port) of every listening TCP socket of ``pid`` and its children."""
    root = psutil.Process(pid)
    found: list[tuple[str, str, int]] = []
    for process in [root, *root.children(recursive=True)]:
        try:
            connections = process.net_connections(kind="tcp")
            name = process.name()
        except psutil.NoSuchProcess:  # a child that exited between listing and asking
            continue
        found += [(name, c.laddr.ip, c.laddr.port) for c in connections if c.status == psutil.CONN_LISTEN]
    return found


def test_the_local_stack_listens_on_loopback_only(
    kafka_broker: TansuBroker, triton_server: TritonServer, worker: WorkerProcess
) -> None:
    assert kafka_broker.pid is not None and triton_server.pid is not None and worker.proc is not None
    sockets = {
        "tansu": listening_sockets(kafka_broker.pid),
        "tritonserver": listening_sockets(triton_server.pid),
        "worker": listening_sockets(worker.proc.pid),
    }
    ports = {part: {port for _name, _ip, port in found} for part, found in sockets.items()}
    # The listing sees what it must (so an empty or wrong listing cannot pass): each part's
    # known ports are among its sockets.
    assert kafka_broker.port in ports["tansu"], sockets
    triton = triton_server.config
    assert {triton.http_port, triton.grpc_port, triton.metrics_port} <= ports["tritonserver"], sockets
    assert worker.web_port in ports["worker"], sockets
    exposed = [(part, *s) for part, found in sockets.items() for s in found if not on_loopback(s[1])]
    assert not exposed, f"listening beyond loopback: {exposed}"


def test_the_loopback_check_refuses_every_other_address() -> None:
    assert all(on_loopback(a) for a in ("127.0.0.1", "::1", "::ffff:127.0.0.1"))
    assert not any(on_loopback(a) for a in ("0.0.0.0", "::", "::ffff:0.0.0.0", "10.0.0.5", "192.168.1.2"))
