"""Route `timeout.perRequest`: a slow upstream gets a 504 after the configured time, a quick one a 200."""

from __future__ import annotations

import pytest
from support import Lab, MeshBuilder, Sidecar, http_request, listener, target

pytestmark = pytest.mark.envoy

SERVICE = "slow.timeout.local"
PER_REQUEST_MS = 500


@pytest.fixture(scope="module")
def client(lab: Lab) -> Sidecar:
    mesh = MeshBuilder("timeout-mesh")
    mesh.node("client", backends=(SERVICE,))
    mesh.node("slow", listener(8080))
    mesh.router("slow-router", 8080)
    mesh.route(
        "slow-router",
        "bounded",
        {
            "httpRoute": {
                "match": {"prefix": "/"},
                "action": {"weightedTargets": [target("slow")]},
                "timeout": {"perRequest": {"unit": "ms", "value": PER_REQUEST_MS}},
            }
        },
    )
    mesh.service(SERVICE, router="slow-router")
    lab.direct_http_app(mesh, "slow", "slow")
    return lab.sidecar(mesh.build(), "client", lab.address())


def test_request_slower_than_per_request_timeout_gets_504_after_the_timeout(client: Sidecar) -> None:
    reply = http_request(client.egress, f"{SERVICE}:8080", "/", headers={"x-upstream-delay-ms": "3000"})
    assert reply.status == 504
    assert PER_REQUEST_MS / 1000 * 0.9 <= reply.elapsed < 2.0, reply.elapsed


def test_request_faster_than_the_timeout_succeeds(client: Sidecar) -> None:
    reply = http_request(client.egress, f"{SERVICE}:8080", "/", headers={"x-upstream-delay-ms": "100"})
    assert reply.status == 200 and reply.upstream == "slow"
