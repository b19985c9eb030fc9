"""Server-speaks-first TCP (SMTP, MySQL, ...) through listeners that carry a TLS inspector.

The client sends nothing until it has read the server's banner.  Envoy's TLS inspector waits
for a ClientHello; without `continue_on_listener_filters_timeout` the connection would sit
there for Envoy's default 15 s, and the banner would never come in time.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from support import Lab, MeshBuilder, Sidecar, TestCA, listener, target

from .servers import BANNER, BannerServer

pytestmark = pytest.mark.envoy

SERVICE = "smtp.banner.local"
ROUTER_PORT = 15001  # the caller's egress port, as an intercepted connection to the service looks
APP_PORT = 2525
PROMPT_S = 2.0  # two inspectors (caller egress, server ingress) each wait 0.25 s, not 15 s


def read_banner(address: tuple[str, int]) -> tuple[bytes, float]:
    """Connect, send nothing, and time how long the first line takes."""
    started = time.monotonic()
    with socket.create_connection(address, timeout=10) as sock:
        received = b""
        while not received.endswith(b"\n"):
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                break
            if not chunk:
                break
            received += chunk
    return received, time.monotonic() - started


@dataclass
class World:
    caller: Sidecar
    server_sidecar: Sidecar


@pytest.fixture(scope="module")
def world(lab: Lab, test_ca: TestCA) -> Iterator[World]:
    mesh = MeshBuilder("banner-mesh")
    mesh.node("caller", backends=(SERVICE,))
    mesh.router("smtp-router", (ROUTER_PORT, "tcp"))
    mesh.route("smtp-router", "all", {"tcpRoute": {"action": {"weightedTargets": [target("smtp")]}}})
    mesh.service(SERVICE, router="smtp-router")
    # PERMISSIVE: the server's own ingress carries a TLS inspector too.
    leaf = test_ca.issue("smtp", dns=(SERVICE,))
    tls = {
        "mode": "PERMISSIVE",
        "certificate": {"file": {"certificateChain": str(leaf.chain), "privateKey": str(leaf.key)}},
    }
    mesh.node("smtp", listener(APP_PORT, "tcp", tls=tls))
    address = lab.place(mesh, "smtp")
    server = BannerServer("banner", address, APP_PORT).start()
    try:
        state = mesh.build()
        yield World(
            caller=lab.sidecar(state, "caller", lab.address()), server_sidecar=lab.sidecar(state, "smtp", address)
        )
    finally:
        server.close()


def test_egress_delivers_a_server_first_banner_promptly(world: World) -> None:
    banner, took = read_banner(world.caller.egress)
    assert banner == BANNER
    assert took < PROMPT_S, f"banner took {took:.2f}s"


def test_permissive_ingress_delivers_a_server_first_banner_promptly(world: World) -> None:
    banner, took = read_banner(world.server_sidecar.ingress)
    assert banner == BANNER
    assert took < PROMPT_S, f"banner took {took:.2f}s"
