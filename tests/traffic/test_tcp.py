"""TCP routes: a weighted tcpRoute carries echo traffic through the caller's egress and the backends' sidecars.

The egress listener picks the TCP filter chain by the original destination port.  Without
iptables a connection's original destination is the address it was made to, so the
virtual router listens on 15001: connecting to the caller's egress port is then exactly
what an intercepted connection to `echo.tcp.local:15001` looks like to Envoy.
"""

from __future__ import annotations

import pytest
from support import Lab, MeshBuilder, Sidecar, TcpEchoUpstream, listener, target, tcp_exchange

pytestmark = pytest.mark.envoy

SERVICE = "echo.tcp.local"
ROUTER_PORT = 15001
CONNECTIONS = 60


@pytest.fixture(scope="module")
def world(lab: Lab) -> tuple[Sidecar, dict[str, TcpEchoUpstream]]:
    mesh = MeshBuilder("tcp-mesh")
    mesh.node("client", backends=(SERVICE,))
    mesh.router("echo-router", (ROUTER_PORT, "tcp"))
    mesh.route(
        "echo-router",
        "split",
        {"tcpRoute": {"action": {"weightedTargets": [target("echo-a", 50), target("echo-b", 50)]}}},
    )
    mesh.service(SERVICE, router="echo-router")
    addresses = {}
    for name in ("echo-a", "echo-b"):
        mesh.node(name, listener(7000, "tcp"))
        addresses[name] = lab.place(mesh, name)
    servers = {name: lab.tcp_app(name, address, 7000) for name, address in addresses.items()}
    state = mesh.build()
    for name, address in addresses.items():
        lab.sidecar(state, name, address)
    return lab.sidecar(state, "client", lab.address()), servers


def test_tcp_connection_is_proxied_to_a_backend_and_bytes_flow_both_ways(
    world: tuple[Sidecar, dict[str, TcpEchoUpstream]],
) -> None:
    client, _ = world
    answer = tcp_exchange(client.egress, b"ping")
    assert answer in (b"echo-a ping\n", b"echo-b ping\n")


def test_weighted_tcp_targets_both_receive_connections(world: tuple[Sidecar, dict[str, TcpEchoUpstream]]) -> None:
    client, servers = world
    before = {name: server.connections for name, server in servers.items()}
    # The egress listener's TLS inspector decides after 5 bytes, so every line is longer than that.
    answers = [tcp_exchange(client.egress, f"connection-{i}".encode()) for i in range(CONNECTIONS)]
    assert all(a.split(b" ")[0] in (b"echo-a", b"echo-b") and a.endswith(b"\n") for a in answers), answers
    gained = {name: server.connections - before[name] for name, server in servers.items()}
    assert sum(gained.values()) == CONNECTIONS
    # 50/50 over 60 connections: each side gets 30 ± 3.9 (1 sigma); 10 is more than 5 sigma away.
    assert min(gained.values()) >= 10, gained
