"""Listener `connectionPool` (http maxConnections 1, maxPendingRequests 1): the node's own sidecar
lets one request at a time reach its app and answers 503 to what overflows the queue."""

from __future__ import annotations

import pytest
from support import HttpUpstream, Lab, MeshBuilder, Sidecar, http_request, listener, repeat, tally

pytestmark = pytest.mark.envoy

SERVICE = "narrow.pool.local"
CONCURRENT = 6


@pytest.fixture(scope="module")
def setup(lab: Lab) -> tuple[Sidecar, Sidecar, HttpUpstream]:
    mesh = MeshBuilder("pool-mesh")
    mesh.node("client", backends=(SERVICE,))
    pool = {"http": {"maxConnections": 1, "maxPendingRequests": 1}}
    mesh.node("narrow", listener(8080, connectionPool=pool))
    mesh.service(SERVICE, node="narrow")
    address = lab.place(mesh, "narrow")
    app = lab.http_app("narrow", address, 8080)
    state = mesh.build()
    backend = lab.sidecar(state, "narrow", address)
    return lab.sidecar(state, "client", lab.address()), backend, app


def test_concurrent_requests_beyond_the_pool_get_503_and_the_app_sees_one_at_a_time(
    setup: tuple[Sidecar, Sidecar, HttpUpstream],
) -> None:
    client, backend, app = setup
    replies = repeat(
        lambda: http_request(client.egress, f"{SERVICE}:8080", "/", headers={"x-upstream-delay-ms": "400"}),
        CONCURRENT,
        concurrency=CONCURRENT,
    )
    counts = tally(replies)
    assert counts["status:503"] >= 1, counts
    assert counts["narrow"] >= 1, counts
    assert set(counts) == {"narrow", "status:503"}, counts
    assert app.max_in_flight == 1
    overflow = backend.envoy.stats("upstream_rq_pending_overflow")
    assert sum(v for k, v in overflow.items() if k.startswith("cluster.cds_ingress_pool-mesh_narrow")) >= 1, overflow


def test_sequential_requests_within_the_pool_all_succeed(setup: tuple[Sidecar, Sidecar, HttpUpstream]) -> None:
    client, _, _ = setup
    replies = [http_request(client.egress, f"{SERVICE}:8080", "/") for _ in range(10)]
    assert tally(replies) == {"narrow": 10}
