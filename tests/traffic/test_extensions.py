"""meshplane extensions driven by `meshplane.io/` tags, proven with real traffic through the caller's Envoy.

Fault abort tolerance: 400 requests at p = 0.3 give a standard deviation of
sqrt(400 * 0.3 * 0.7) = 9.2 aborts; the test accepts 120 ± 37 (4 sigma).
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections import Counter

import pytest
from meshplane.graph import extensions as ext
from meshplane.model.ids import Kind, ResourceKey
from support import Lab, MeshBuilder, Sidecar, http_request, listener, target

pytestmark = pytest.mark.envoy

MESH = "ext-mesh"
FLAKY = "flaky.ext.local"
STICKY = "sticky.ext.local"
ABORTS = 400
ABORT_SHARE = 0.3
ABORT_STATUS = 429
ABORT_TOLERANCE = 37
DELAY_MS = 400
STICKY_INSTANCES = 3


def _route(prefix: str, priority: int) -> dict:
    action = {"weightedTargets": [target("flaky")]}
    return {"priority": priority, "httpRoute": {"match": {"prefix": prefix}, "action": action}}


@pytest.fixture(scope="module")
def caller(lab: Lab) -> Sidecar:
    mesh = MeshBuilder(MESH)
    mesh.node("caller", backends=(FLAKY, STICKY))
    mesh.node("flaky", listener(8080))
    mesh.router("flaky-router", 8080)
    mesh.route("flaky-router", "aborting", _route("/abort", 1))
    mesh.route("flaky-router", "slow", _route("/slow", 2))
    mesh.route("flaky-router", "plain", _route("/", 3))
    mesh.service(FLAKY, router="flaky-router")
    lab.direct_http_app(mesh, "flaky", "flaky")
    mesh.node("sticky", listener(8080))
    mesh.service(STICKY, node="sticky")
    for i in range(STICKY_INSTANCES):
        lab.direct_http_app(mesh, "sticky", f"sticky-{i}")
    tags = {
        ResourceKey(Kind.ROUTE, MESH, "aborting", "flaky-router"): {
            ext.ABORT_PERCENT: str(ABORT_SHARE * 100),
            ext.ABORT_STATUS: str(ABORT_STATUS),
        },
        ResourceKey(Kind.ROUTE, MESH, "slow", "flaky-router"): {ext.DELAY_MS: str(DELAY_MS)},
        ResourceKey(Kind.VIRTUAL_NODE, MESH, "sticky"): {ext.LB_POLICY: "RING_HASH", ext.HASH_HEADER: "X-User"},
    }
    state = dataclasses.replace(mesh.build(), tags=tags)
    return lab.sidecar(state, "caller", lab.address())


def test_abort_tolerance_is_four_sigma() -> None:
    sigma = math.sqrt(ABORTS * ABORT_SHARE * (1 - ABORT_SHARE))
    assert 3.9 < ABORT_TOLERANCE / sigma < 4.1


def test_fault_abort_tag_aborts_its_share_of_the_route_requests(caller: Sidecar) -> None:
    statuses = Counter(http_request(caller.egress, f"{FLAKY}:8080", f"/abort/{i}").status for i in range(ABORTS))
    assert set(statuses) == {200, ABORT_STATUS}, statuses
    assert abs(statuses[ABORT_STATUS] - ABORTS * ABORT_SHARE) <= ABORT_TOLERANCE, statuses


def test_routes_without_fault_tags_are_untouched(caller: Sidecar) -> None:
    statuses = Counter(http_request(caller.egress, f"{FLAKY}:8080", f"/other/{i}").status for i in range(100))
    assert statuses == Counter({200: 100})


def test_fault_delay_tag_holds_each_request_back(caller: Sidecar) -> None:
    delays = "http.egress.fault.delays_injected"
    before = caller.envoy.stat(delays)
    slow = [http_request(caller.egress, f"{FLAKY}:8080", "/slow/x") for _ in range(3)]
    # Envoy's timers may fire up to a millisecond early: allow 10 ms of clock slack, no more
    assert all(r.status == 200 and r.elapsed >= DELAY_MS / 1000 - 0.01 for r in slow), [r.elapsed for r in slow]
    assert caller.envoy.stat(delays) - before == 3
    fast = [http_request(caller.egress, f"{FLAKY}:8080", "/fast/x") for _ in range(3)]
    assert all(r.status == 200 for r in fast)
    assert caller.envoy.stat(delays) - before == 3  # routes without the tag are not delayed


def test_ring_hash_tag_keeps_each_user_on_one_instance(caller: Sidecar) -> None:
    seen: dict[str, set[str | None]] = {}
    order = random.Random(7)  # users come back in a different order each round, as real ones do
    for round_ in range(4):
        users = list(range(20))
        order.shuffle(users)
        for user in users:
            reply = http_request(caller.egress, f"{STICKY}:8080", f"/r{round_}", headers={"x-user": f"user-{user}"})
            assert reply.status == 200, reply
            seen.setdefault(f"user-{user}", set()).add(reply.upstream)
    assert all(len(instances) == 1 for instances in seen.values()), seen
    # ...while users as a whole are still spread over the instances.
    assert len(set().union(*seen.values())) >= 2, seen
