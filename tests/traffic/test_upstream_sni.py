"""Upstream TLS names its server: the caller's Envoy sends the backend's service discovery name as SNI.

The backends are plain Python TLS servers (no sidecar) that record the SNI of each
ClientHello; the caller's client policy originates TLS to them and checks their certificate
against the test CA.  The virtual service names differ from the discovery names, so the
test shows which one is sent (see `translate.tls.server_name` for why).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from meshplane.model.ids import Kind, ProxyId
from support import Lab, MeshBuilder, Sidecar, TestCA, listener

from .capture import captured, capturing_sidecar, read_until
from .servers import TlsEchoServer

pytestmark = pytest.mark.envoy

CLOUD_MAP_SERVICE, CLOUD_MAP_NAME = "payments.mesh.local", "payments.apps.local"
DNS_SERVICE, DNS_NAME = "ledger.mesh.local", "localhost"
CLOUD_MAP_PORT = 9443


@dataclass
class World:
    caller: Sidecar
    cloud_map: TlsEchoServer
    dns: TlsEchoServer


@pytest.fixture(scope="module")
def world(lab: Lab, test_ca: TestCA) -> Iterator[World]:
    mesh = MeshBuilder("sni-mesh")
    payments_ip = lab.place(mesh, "payments", sidecar=False)
    payments = TlsEchoServer("payments", payments_ip, CLOUD_MAP_PORT, test_ca.issue("payments", dns=(CLOUD_MAP_NAME,)))
    ledger = TlsEchoServer("ledger", "127.0.0.1", 0, test_ca.issue("ledger", dns=(DNS_NAME,)))
    with contextlib.ExitStack() as running:
        for server in (payments, ledger):
            running.callback(server.close)
            server.start()
        trust = {"trust": {"file": {"certificateChain": str(test_ca.cert_path)}}}
        mesh.node(
            "caller",
            backends=(CLOUD_MAP_SERVICE, DNS_SERVICE),
            backendDefaults={"clientPolicy": {"tls": {"validation": trust}}},
        )
        cloud_map = {"awsCloudMap": {"namespaceName": "apps.local", "serviceName": "payments"}}
        mesh.node("payments", listener(CLOUD_MAP_PORT, "tcp"), serviceDiscovery=cloud_map)
        dns = {"dns": {"hostname": DNS_NAME, "ipPreference": "IPv4_ONLY"}}
        mesh.node("ledger", listener(ledger.address[1], "tcp"), serviceDiscovery=dns)
        mesh.service(CLOUD_MAP_SERVICE, node="payments")
        mesh.service(DNS_SERVICE, node="ledger")
        state = mesh.build()
        caller = capturing_sidecar(lab, state, ProxyId(state.name, Kind.VIRTUAL_NODE, "caller"), lab.address())
        yield World(caller=caller, cloud_map=payments, dns=ledger)


def _line_through(caller: Sidecar, port: int) -> bytes:
    """An app's plaintext connection to the backend's port; its sidecar originates the TLS."""
    with captured(caller, ("127.0.0.1", port)) as sock:
        sock.sendall(b"hello over tls\n")
        return read_until(sock).data


def test_cloud_map_backend_sees_service_dot_namespace_as_sni(world: World) -> None:
    assert _line_through(world.caller, CLOUD_MAP_PORT) == b"payments hello over tls\n"
    assert world.cloud_map.server_names == [CLOUD_MAP_NAME]


def test_dns_backend_sees_its_hostname_as_sni(world: World) -> None:
    assert _line_through(world.caller, world.dns.address[1]) == b"ledger hello over tls\n"
    assert world.dns.server_names == [DNS_NAME]
