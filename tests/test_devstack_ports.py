"""``free_port``: ports the test servers are started on."""

from __future__ import annotations

import socket
from pathlib import Path

from kubeward.devstack.procs import free_port


def test_free_ports_are_bindable_and_below_the_ephemeral_range() -> None:
    """Below the range the kernel takes outgoing connections' source ports from, so no
    connection made meanwhile can take the port before its server binds it."""
    first_ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = {free_port() for _ in range(50)}
    assert all(port < first_ephemeral for port in ports), sorted(ports)
    assert len(ports) > 40  # picked at random: two test workers rarely pick the same
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))
