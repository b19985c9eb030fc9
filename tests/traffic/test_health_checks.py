"""Listener `healthCheck`: the calling Envoy health-checks each endpoint and stops using one that fails.

The sick endpoint keeps answering 200 on the data path and fails only `/health`, so
nothing but active health checking can take it out of rotation.  App Mesh's minimum
interval is 5 s; Envoy takes a host out on the first 503 from its health check, so removal
takes about one interval of traffic.
"""

from __future__ import annotations

import time

import pytest
from support import HttpUpstream, Lab, MeshBuilder, Sidecar, http_request, listener, tally, wait_until

pytestmark = pytest.mark.envoy

SERVICE = "checked.hc.local"
CLUSTER = "cds_egress_hc-mesh_checked_http_8080"
HEALTH_CHECK = {
    "protocol": "http",
    "path": "/health",
    "intervalMillis": 5000,
    "timeoutMillis": 2000,
    "healthyThreshold": 2,
    "unhealthyThreshold": 2,
}


@pytest.fixture(scope="module")
def setup(lab: Lab) -> tuple[Sidecar, HttpUpstream, HttpUpstream]:
    mesh = MeshBuilder("hc-mesh")
    mesh.node("client", backends=(SERVICE,))
    mesh.node("checked", listener(8080, healthCheck=HEALTH_CHECK))
    mesh.service(SERVICE, node="checked")
    fine = lab.direct_http_app(mesh, "checked", "fine")
    sick = lab.direct_http_app(mesh, "checked", "sick")
    return lab.sidecar(mesh.build(), "client", lab.address()), fine, sick


def test_endpoint_failing_its_health_check_stops_receiving_traffic(
    setup: tuple[Sidecar, HttpUpstream, HttpUpstream],
) -> None:
    client, fine, sick = setup
    both = {f"{fine.address[0]}:8080", f"{sick.address[0]}:8080"}
    wait_until(lambda: client.envoy.healthy_hosts(CLUSTER) == both, 15, what="both endpoints healthy")
    first = tally(http_request(client.egress, f"{SERVICE}:8080", "/") for _ in range(10))
    assert first["fine"] >= 1 and first["sick"] >= 1, first
    assert fine.hits("/health") >= 1 and sick.hits("/health") >= 1

    sick.behave("/health", status=503)
    deadline = time.monotonic() + 20
    recent: list[str | None] = []
    while time.monotonic() < deadline and recent[-20:].count("fine") < 20:
        recent.append(http_request(client.egress, f"{SERVICE}:8080", "/").upstream)
        time.sleep(0.05)
    assert recent[-20:] == ["fine"] * 20, f"sick endpoint still in rotation after 20 s: {recent[-20:]}"
    assert client.envoy.hosts(CLUSTER)[f"{sick.address[0]}:8080"]["health_status"].get("failed_active_health_check")
    assert sick.hits("/health") >= 2, "one passing check at start, then at least one failing"
