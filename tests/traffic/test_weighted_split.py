"""Weighted targets: an 80/20 split measured over 1,000 real requests through the caller's sidecar.

Tolerance: for n = 1,000 and p = 0.8 the binomial standard deviation of the v1 share is
sqrt(0.8 * 0.2 / 1000) = 1.26 percentage points; the test accepts 80 % ± 4.5 points
(about 3.5 sigma), so a correct split fails this test with probability below 0.05 %.
"""

from __future__ import annotations

import math

import pytest
from support import Lab, MeshBuilder, Sidecar, http_request, listener, tally, target

pytestmark = pytest.mark.envoy

REQUESTS = 1000
TOLERANCE_POINTS = 4.5
SERVICE = "catalog.split.local"


@pytest.fixture(scope="module")
def caller(lab: Lab) -> Sidecar:
    mesh = MeshBuilder("split-mesh")
    mesh.node("frontend", backends=(SERVICE,))
    for version in ("v1", "v2"):
        mesh.node(f"catalog-{version}", listener(8080))
    mesh.router("catalog-router", 8080)
    mesh.route(
        "catalog-router",
        "split",
        {
            "httpRoute": {
                "match": {"prefix": "/"},
                "action": {"weightedTargets": [target("catalog-v1", 80), target("catalog-v2", 20)]},
            }
        },
    )
    mesh.service(SERVICE, router="catalog-router")
    instances = {version: lab.place(mesh, f"catalog-{version}") for version in ("v1", "v2")}
    state = mesh.build()
    for version, address in instances.items():
        lab.http_app(f"catalog-{version}", address, 8080)
        lab.sidecar(state, f"catalog-{version}", address)
    return lab.sidecar(state, "frontend", lab.address())


def test_tolerance_is_about_three_and_a_half_sigma() -> None:
    sigma_points = 100 * math.sqrt(0.8 * 0.2 / REQUESTS)
    assert 3.4 < TOLERANCE_POINTS / sigma_points < 3.7


def test_eighty_twenty_split_over_a_thousand_requests(caller: Sidecar) -> None:
    replies = [http_request(caller.egress, f"{SERVICE}:8080", f"/item/{i}") for i in range(REQUESTS)]
    counts = tally(replies)
    assert set(counts) == {"catalog-v1", "catalog-v2"}, counts
    share_v1 = 100 * counts["catalog-v1"] / REQUESTS
    assert abs(share_v1 - 80) <= TOLERANCE_POINTS, f"v1 got {share_v1:.1f}% of {REQUESTS} ({counts})"
