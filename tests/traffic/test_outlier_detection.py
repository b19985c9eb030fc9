"""Listener `outlierDetection`: the caller ejects an endpoint after maxServerErrors 5xx, then uses only the other."""

from __future__ import annotations

import pytest
from meshplane.localnet.waiting import wait_until
from support import HttpUpstream, Lab, MeshBuilder, Sidecar, http_request, listener, tally

pytestmark = pytest.mark.envoy

SERVICE = "pool.outlier.local"
MAX_SERVER_ERRORS = 3


@pytest.fixture(scope="module")
def setup(lab: Lab) -> tuple[Sidecar, HttpUpstream, HttpUpstream]:
    mesh = MeshBuilder("outlier-mesh")
    mesh.node("client", backends=(SERVICE,))
    detection = {
        "maxServerErrors": MAX_SERVER_ERRORS,
        "interval": {"unit": "s", "value": 10},
        "baseEjectionDuration": {"unit": "s", "value": 60},
        "maxEjectionPercent": 50,
    }
    mesh.node("pool", listener(8080, outlierDetection=detection))
    mesh.service(SERVICE, node="pool")
    good = lab.direct_http_app(mesh, "pool", "good")
    bad = lab.direct_http_app(mesh, "pool", "bad")
    return lab.sidecar(mesh.build(), "client", lab.address()), good, bad


def test_failing_endpoint_is_ejected_and_traffic_goes_to_the_healthy_one(
    setup: tuple[Sidecar, HttpUpstream, HttpUpstream],
) -> None:
    client, good, bad = setup
    bad.behave(status=500)  # 500 is not in the default retry policy, so each failure reaches the client
    before = [http_request(client.egress, f"{SERVICE}:8080", f"/warm/{i}") for i in range(4 * MAX_SERVER_ERRORS)]
    assert bad.hits() >= MAX_SERVER_ERRORS, "round robin should have sent the bad endpoint its share"
    assert sum(r.status == 500 for r in before) >= MAX_SERVER_ERRORS
    # Envoy ejects on its main thread and tells the workers afterwards: wait for the ejection to be in force.
    wait_until(lambda: any(v >= 1 for v in client.envoy.stats(r"outlier_detection\.ejections_active$").values()),
               10, 0.05, "the bad endpoint's ejection")
    hits_at_ejection = bad.hits()
    after = [http_request(client.egress, f"{SERVICE}:8080", f"/after/{i}") for i in range(30)]
    assert tally(after) == {"good": 30}
    assert bad.hits() == hits_at_ejection
    assert bad.hits() <= MAX_SERVER_ERRORS + 1, "ejection came late"
    assert good.hits() > 30
