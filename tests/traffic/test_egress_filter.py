"""Mesh `egressFilter`: DROP_ALL refuses a destination the node did not declare, ALLOW_ALL passes it.

Without iptables the app names its real destination in `x-envoy-original-dst-host`,
which the translator's passthrough cluster reads (ORIGINAL_DST with `use_http_header`).
"""

from __future__ import annotations

import pytest
from support import HttpUpstream, Lab, MeshBuilder, Sidecar, http_request, listener

pytestmark = pytest.mark.envoy

KNOWN = "known.egress.local"
UNDECLARED_PORT = 9099


@pytest.fixture(scope="module")
def outside(lab: Lab) -> HttpUpstream:
    return lab.http_app("outside", lab.address(), UNDECLARED_PORT)


def _client(lab: Lab, egress: str) -> Sidecar:
    mesh = MeshBuilder(f"egress-{egress.lower().replace('_', '-')}", egress=egress)
    mesh.node("client", backends=(KNOWN,))
    mesh.node("known", listener(8080))
    mesh.service(KNOWN, node="known")
    lab.direct_http_app(mesh, "known", f"known-{egress}")
    return lab.sidecar(mesh.build(), "client", lab.address())


@pytest.fixture(scope="module")
def drop_all(lab: Lab) -> Sidecar:
    return _client(lab, "DROP_ALL")


@pytest.fixture(scope="module")
def allow_all(lab: Lab) -> Sidecar:
    return _client(lab, "ALLOW_ALL")


def _undeclared(client: Sidecar, outside: HttpUpstream) -> int:
    host, port = outside.address
    reply = http_request(
        client.egress,
        f"undeclared.example.com:{port}",
        "/data",
        headers={"x-envoy-original-dst-host": f"{host}:{port}"},
    )
    return reply.status if reply.upstream != "outside" else 1000 + reply.status


def test_drop_all_refuses_an_undeclared_destination(drop_all: Sidecar, outside: HttpUpstream) -> None:
    before = outside.hits()
    status = _undeclared(drop_all, outside)
    assert status == 404
    assert outside.hits() == before


def test_allow_all_passes_an_undeclared_destination_through(allow_all: Sidecar, outside: HttpUpstream) -> None:
    before = outside.hits()
    assert _undeclared(allow_all, outside) == 1200  # answered 200 by the outside server itself
    assert outside.hits() == before + 1


@pytest.mark.parametrize("mode", ["drop_all", "allow_all"])
def test_declared_backend_works_in_both_modes(mode: str, request: pytest.FixtureRequest) -> None:
    client: Sidecar = request.getfixturevalue(mode)
    reply = http_request(client.egress, f"{KNOWN}:8080", "/")
    assert reply.status == 200 and (reply.upstream or "").startswith("known-")
