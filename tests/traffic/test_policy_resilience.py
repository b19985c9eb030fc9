"""The zoneAware, outlierDetection and retryBudget policies, proven with real traffic through real Envoys.

One mesh, two caller sidecars of the node `front`, one in zone A and one in zone B (each
bootstrap names its zone; both instances are registered with their zones, which the local
cluster carries), calling three kinds of backends whose apps they reach directly:

- `zoned`: two instances in each zone, the zoneAware target.  Zone A and zone B hold the same
  share of callers (1 of 2) and of callees (2 of 4), so Envoy's zone-aware balancer keeps every
  request in the caller's zone (`lb_zone_routing_all_directly`); without the policy round robin
  sends exactly half of them across (concurrency 1, so the order is exact).  A caller must keep
  >= 90 % local, 36 of 40 (`meshplane.demo.zones`, the bar the demo's callers clear too).  Once
  zone A's instances fail (discovery reports them unhealthy), a caller in zone A spills everything
  over to zone B.
- `ranked` and `graded`: three and two instances, one of them always answering 500, targets of
  success-rate and failure-percentage ejection (stated below); neither node has App Mesh outlier
  detection, so without the policy nothing is ever ejected.
- `busy`: one instance that holds every request until the test lets it go, then answers 503,
  which the default retry policy retries.  The retry budget lets `MIN_RETRY_CONCURRENCY`
  retries be outstanding; the rest overflow (`upstream_rq_retry_overflow`) and are never made.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from meshplane.demo.zones import kept_local
from meshplane.model.ids import Kind, ProxyId
from meshplane.model.policy.spec import PolicyData
from meshplane.model.state import MeshState
from meshplane.translate import translate
from meshplane.translate.static import inline_bootstrap
from support import HttpUpstream, Lab, MeshBuilder, Sidecar, http_request, listener, wait_until
from support.policies import policy

pytestmark = [pytest.mark.envoy, pytest.mark.xdist_group("policy-resilience")]  # one Lab for the module

MESH = "resilience-mesh"
ZONED = "zoned.resilience.local"
RANKED = "ranked.resilience.local"
GRADED = "graded.resilience.local"
BUSY = "busy.resilience.local"
ZONES = ("zone-a", "zone-b")
PER_ZONE = 2
ZONE_REQUESTS = 40
# Success rate: hosts at 100 %, 100 % and 0 % have mean 2/3 and standard deviation 0.47, so with a
# factor of 1 the bar is 0.19 and only the failing host is below it.  Failure percentage: the
# failing host fails 100 % >= 50 %, the other 0 %.  Each host needs REQUEST_VOLUME requests in one
# interval; the test sends rounds of that many per host until the ejection is counted.
REQUEST_VOLUME = 5
INTERVAL_MS = 1000
EJECTION = {"baseEjectionDuration": {"value": 300, "unit": "s"}, "interval": {"value": INTERVAL_MS, "unit": "ms"},
            "maxEjectionPercent": 50}  # fmt: skip
BUSY_CALLERS = 6
MIN_RETRY_CONCURRENCY = 2


def _policy(name: str, node: str, **sections: Any) -> PolicyData:
    return policy(MESH, name, {"targets": [{"virtualNode": {"virtualNodeName": node}}], **sections})


POLICIES = {
    "zones": _policy("zones", "zoned", zoneAware={"minClusterSize": 2}),
    "rank": _policy("rank", "ranked", outlierDetection={
        "successRate": {"minimumHosts": 3, "requestVolume": REQUEST_VOLUME, "stdevFactor": 1.0}, **EJECTION}),
    "grade": _policy("grade", "graded", outlierDetection={
        "failurePercentage": {"threshold": 50, "minimumHosts": 2, "requestVolume": REQUEST_VOLUME}, **EJECTION}),
    "budget": _policy("budget", "busy",
                      retryBudget={"budgetPercent": 0.0, "minRetryConcurrency": MIN_RETRY_CONCURRENCY}),
}  # fmt: skip


class HoldingServer(ThreadingHTTPServer):
    """Answers 503 (which the default retry policy retries), holding each request until let go:
    the first `first_round` requests until `release_first()`, every later one (the retries) until `release()`."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], first_round: int) -> None:
        self.hits = 0
        self.first_round = first_round
        self.lock = threading.Lock()
        self.first = threading.Event()
        self.rest = threading.Event()
        super().__init__(address, _Holding)

    def release_first(self) -> None:
        self.first.set()

    def release(self) -> None:
        self.first.set()
        self.rest.set()


class _Holding(BaseHTTPRequestHandler):
    server: HoldingServer

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.hits += 1
            held = self.server.first if self.server.hits <= self.server.first_round else self.server.rest
        held.wait(30)
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@dataclasses.dataclass
class Setup:
    state: MeshState
    callers: dict[str, Sidecar]
    zoned: dict[str, list[HttpUpstream]]
    busy: HoldingServer


def _caller(lab: Lab, state: MeshState, zone: str, address: str) -> Sidecar:
    proxy = ProxyId(MESH, Kind.VIRTUAL_NODE, "front")
    boot = inline_bootstrap(translate(state, proxy), bind_address=address, node_id=proxy.path, zone=zone)
    boot.admin.address.socket_address.address = address
    return Sidecar(proxy, address, lab.runner.start(boot, name=f"front@{zone}"))


def _pool(lab: Lab, mesh: MeshBuilder, node: str, service: str, size: int, **spec: Any) -> list[HttpUpstream]:
    mesh.node(node, listener(8080, **spec))
    mesh.service(service, node=node)
    return [lab.direct_http_app(mesh, node, f"{node}-{i}") for i in range(size)]


@pytest.fixture(scope="module")
def setup(lab: Lab) -> Iterator[Setup]:
    mesh = MeshBuilder(MESH)
    mesh.node("front", backends=(ZONED, RANKED, GRADED, BUSY))
    mesh.node("zoned", listener(8080))
    mesh.service(ZONED, node="zoned")
    zoned: dict[str, list[HttpUpstream]] = {}
    for zone in ZONES:
        for i in range(PER_ZONE):
            address = lab.address()
            mesh.endpoint("zoned", address, None, zone=zone)
            zoned.setdefault(zone, []).append(lab.http_app(f"{zone}-{i}", address, 8080))
    _pool(lab, mesh, "ranked", RANKED, 3)[-1].behave(status=500)
    _pool(lab, mesh, "graded", GRADED, 2)[-1].behave(status=500)
    mesh.node("busy", listener(8080))
    mesh.service(BUSY, node="busy")
    busy_address = lab.place(mesh, "busy", sidecar=False)
    busy = HoldingServer((busy_address, 8080), BUSY_CALLERS)
    threading.Thread(target=busy.serve_forever, args=(0.05,), daemon=True).start()
    addresses = {zone: lab.address() for zone in ZONES}
    for zone, address in addresses.items():
        mesh.endpoint("front", address, zone=zone)
    state = dataclasses.replace(mesh.build(), policies=POLICIES)
    try:
        yield Setup(state, {zone: _caller(lab, state, zone, a) for zone, a in addresses.items()}, zoned, busy)
    finally:
        busy.release()
        busy.shutdown()
        busy.server_close()


def _zones(caller: Sidecar, count: int, path: str) -> Counter[str]:
    replies = [http_request(caller.egress, f"{ZONED}:8080", f"/{path}/{i}") for i in range(count)]
    assert all(r.status == 200 for r in replies), [(r.status, r.upstream) for r in replies]
    return Counter(str(r.upstream).rsplit("-", 1)[0] for r in replies)


def test_callers_keep_traffic_in_their_zone_and_spill_over_when_it_fails(lab: Lab, setup: Setup) -> None:
    for zone, caller in setup.callers.items():
        seen = _zones(caller, ZONE_REQUESTS, "balanced")
        assert kept_local(seen, zone), (zone, seen)
    # Zone A's instances fail their health checks: discovery marks them unhealthy (and they answer 500,
    # so a request that still reached one would show).
    failed = {node: tuple(e.model_copy(update={"healthy": e.zone != "zone-a"}) for e in endpoints)
              if node == "zoned" else endpoints for node, endpoints in setup.state.endpoints.items()}  # fmt: skip
    for app in setup.zoned["zone-a"]:
        app.behave(status=500)
    try:
        caller = _caller(lab, dataclasses.replace(setup.state, endpoints=failed), "zone-a", lab.address())
        assert _zones(caller, 20, "spilled") == Counter({"zone-b": 20})
    finally:
        for app in setup.zoned["zone-a"]:
            app.behave(status=200)


def _ejected(caller: Sidecar, service: str, algorithm: str, hosts: int) -> None:
    """Rounds of REQUEST_VOLUME requests per host until the caller's Envoy counts an ejection by `algorithm`."""
    cluster = f"cluster.cds_egress_{MESH}_{service.split('.')[0]}_http_8080"
    counter = f"{cluster}.outlier_detection.ejections_enforced_{algorithm}"

    def ejected() -> bool:
        if caller.envoy.stat(counter) > 0:
            return True
        for i in range(REQUEST_VOLUME * hosts):
            http_request(caller.egress, f"{service}:8080", f"/round/{i}")
        return False

    wait_until(ejected, 30, what=f"{algorithm} ejection on {service}")


@pytest.mark.parametrize(("service", "algorithm", "hosts"), [(RANKED, "success_rate", 3),
                                                             (GRADED, "failure_percentage", 2)])  # fmt: skip
def test_the_failing_host_is_ejected(setup: Setup, service: str, algorithm: str, hosts: int) -> None:
    caller = setup.callers["zone-b"]
    _ejected(caller, service, algorithm, hosts)
    after = [http_request(caller.egress, f"{service}:8080", f"/after/{i}") for i in range(4 * hosts)]
    assert all(r.status == 200 for r in after), [(r.status, r.upstream) for r in after]
    assert {r.upstream for r in after} == {f"{service.split('.')[0]}-{i}" for i in range(hosts - 1)}


def test_retries_beyond_the_budget_are_not_made(setup: Setup) -> None:
    caller, busy = setup.callers["zone-a"], setup.busy
    cluster = f"cluster.cds_egress_{MESH}_busy_http_8080"
    allowed = MIN_RETRY_CONCURRENCY  # budgetPercent 0: the minimum is the whole budget
    with ThreadPoolExecutor(BUSY_CALLERS) as pool:
        replies = [pool.submit(http_request, caller.egress, f"{BUSY}:8080", f"/held/{i}") for i in range(BUSY_CALLERS)]
        wait_until(lambda: busy.hits == BUSY_CALLERS, 20, what="every first attempt to reach the app")
        busy.release_first()
        # Every request is refused and wants a retry; only `allowed` may be outstanding (they are held),
        # so the others overflow and end with the 503 they got.
        overflow = f"{cluster}.upstream_rq_retry_overflow"
        over = BUSY_CALLERS - allowed
        wait_until(lambda: caller.envoy.stat(overflow) == over and busy.hits == BUSY_CALLERS + allowed, 20,
                   what="the retries over the budget to overflow")
        busy.release()
        statuses = Counter(r.result().status for r in replies)
    assert statuses == Counter({503: BUSY_CALLERS})
