"""Resources shared across the proxies of one state are exactly what each proxy would get on its own.

The translator builds a backend's egress cluster, endpoints and virtual host once per state
(`translate.cache`) and the resolver its upstream (`graph.build.SharedUpstreams`).  Every proxy of
a state translated after the others (the caches warm) must be byte for byte what a fresh copy of
the state gives it (the caches empty): the mesh below is made of the cases where a shared entry
would differ between callers (client TLS on some callers only, a zone-aware caller whose clusters
are edited in place, callers whose egress listeners differ only in their access log, sidecars whose
own-app clusters differ only in their connection pool, app address or protocol, a gateway).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from envoy.config.cluster.v3.cluster_pb2 import Cluster
from meshplane.graph import proxies, resolve
from meshplane.model.ids import Kind, ProxyId
from meshplane.model.state import MeshState
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.types import XdsType
from meshplane.translate import translate
from meshplane.translate.cache import for_state
from support import MeshBuilder, listener
from support.policies import policy

MESH = "shared"
TLS = {"clientPolicy": {"tls": {"validation": {"trust": {"file": {"certificateChain": "/ca.pem"}}}}}}


def _state() -> MeshState:
    mesh = MeshBuilder(MESH)
    # Sorted proxy order puts the TLS caller before the plain one, so a cache keyed without
    # the TLS policy would hand the plain caller a TLS cluster.
    mesh.node("a-tls-caller", listener(8080), backends=("server.local",), backendDefaults=TLS)
    mesh.node("b-plain-caller", listener(8080), backends=("server.local", "other.local"))
    mesh.node("c-zoned-caller", listener(8080), backends=("zoned.local", "other.local"))
    mesh.node("d-plain-caller", listener(8080), backends=("other.local",))
    # Same backends, different access logs: a shared egress listener keyed without the log would
    # hand the second the first one's path.
    for caller, path in (("e-logged-caller", "/dev/stdout"), ("f-logged-elsewhere", "/var/log/envoy.log")):
        mesh.node(caller, listener(8080), backends=("other.local",),
                  logging={"accessLog": {"file": {"path": path}}})
    # Sidecars whose own-app clusters share a template but for what keys it: a connection pool, an
    # IPv6 app address, another protocol on the same port.
    pool = {"http": {"maxConnections": 7, "maxPendingRequests": 3}}
    mesh.node("g-pooled-callee", listener(8080, connectionPool=pool))
    mesh.node("h-ipv6-callee", listener(8080), serviceDiscovery={"dns": {"hostname": "h.local",
                                                                         "ipPreference": "IPv6_ONLY"}})
    mesh.node("i-http2-callee", listener(8080, "http2"))
    for node in ("server", "zoned", "other"):
        mesh.node(node, listener(8080)).service(f"{node}.local", node=node)
        mesh.endpoint(node, f"10.0.0.{len(node)}", zone="a").endpoint(node, f"10.0.1.{len(node)}", zone="b")
    mesh.endpoint("c-zoned-caller", "10.0.2.1", zone="a")
    mesh.gateway("edge", {"listeners": [{"portMapping": {"port": 8088, "protocol": "http"}}]})
    mesh.gateway_route("edge", "to-other", {"httpRoute": {"match": {"prefix": "/"}, "action": {
        "target": {"virtualService": {"virtualServiceName": "other.local"}}}}})
    zones = policy(MESH, "zones", {"targets": [{"virtualNode": {"virtualNodeName": "zoned"}}],
                                   "zoneAware": {"minClusterSize": 1}})
    return dataclasses.replace(mesh.build(), policies={"zones": zones})


def _wire(snapshot: Snapshot) -> dict[str, Any]:
    return {kind: (snapshot.versions[kind], dict(snapshot.packed(kind))) for kind in XdsType}


@pytest.fixture(scope="module")
def state() -> MeshState:
    return _state()


def test_every_proxy_gets_from_a_shared_state_what_a_fresh_state_gives_it(state: MeshState) -> None:
    everyone = sorted(proxies(state))
    shared = {p: _wire(translate(state, p)) for p in everyone}
    alone = {p: _wire(translate(dataclasses.replace(state), p)) for p in everyone}
    assert shared == alone


def test_a_states_first_proxy_keeps_nothing_for_later_ones_and_the_proxies_after_it_share(state: MeshState) -> None:
    """What the first proxy would keep pays off only for proxies after it (a recompute of one proxy has none),
    so it renders for itself alone; from the second proxy on the state's caches fill and are shared."""
    fresh = dataclasses.replace(state)
    first, second, third = sorted(proxies(fresh))[:3]
    assert [resolve(fresh, p)[1].first_of_state for p in (first, second, third)] == [True, False, False]

    fresh = dataclasses.replace(state)
    alone = _wire(translate(fresh, first))
    assert not for_state(fresh).known, "the first proxy left messages in its state's cache"
    translate(fresh, second)
    kept = dict(for_state(fresh).known)
    assert kept, "the second proxy shares nothing"
    translate(fresh, third)
    assert kept.items() <= dict(for_state(fresh).known).items()
    assert _wire(translate(fresh, first)) == alone  # translated again, now from the shared caches


def _server_cluster(state: MeshState, caller: str) -> Cluster:
    cluster = translate(state, ProxyId(MESH, Kind.VIRTUAL_NODE, caller)).of(XdsType.CLUSTERS)[
        f"cds_egress_{MESH}_server_http_8080"]  # fmt: skip
    assert isinstance(cluster, Cluster)
    return cluster


def test_the_mesh_holds_the_cases_a_shared_entry_could_get_wrong(state: MeshState) -> None:
    """Guards the test above: the callers really do differ where the caches could confuse them."""
    assert _server_cluster(state, "a-tls-caller").HasField("transport_socket")
    assert not _server_cluster(state, "b-plain-caller").HasField("transport_socket")
    zoned = translate(state, ProxyId(MESH, Kind.VIRTUAL_NODE, "c-zoned-caller")).of(XdsType.CLUSTERS)
    plain = translate(state, ProxyId(MESH, Kind.VIRTUAL_NODE, "d-plain-caller")).of(XdsType.CLUSTERS)
    other = f"cds_egress_{MESH}_other_http_8080"
    assert zoned[other] != plain[other]  # the zone-aware caller turns zone routing off on its other clusters
    egress = [translate(state, ProxyId(MESH, Kind.VIRTUAL_NODE, caller)).of(XdsType.LISTENERS)
              ["lds_egress_0.0.0.0_15001"] for caller in ("e-logged-caller", "f-logged-elsewhere")]
    assert egress[0] != egress[1]


def test_a_full_render_over_its_own_last_assignments_carries_them_byte_for_byte(state: MeshState) -> None:
    """Carrying the assignments of untouched nodes over (`translate`'s `last_endpoints`) gives what rendering them
    does, when the last ones are current; the zone-aware caller's own local assignment included."""
    for proxy in sorted(proxies(state)):
        rendered = translate(dataclasses.replace(state), proxy)
        last = rendered.of(XdsType.ENDPOINTS)
        for touched in (frozenset(), frozenset({"server", "c-zoned-caller"})):
            carried = translate(dataclasses.replace(state), proxy, last, touched)
            assert _wire(carried) == _wire(rendered)


def test_an_untouched_node_keeps_its_last_assignment_and_a_touched_one_is_rendered_anew(state: MeshState) -> None:
    caller = ProxyId(MESH, Kind.VIRTUAL_NODE, "b-plain-caller")
    current = translate(dataclasses.replace(state), caller).of(XdsType.ENDPOINTS)
    stale = translate(dataclasses.replace(state, endpoints={}), caller).of(XdsType.ENDPOINTS)  # no instances
    server, other = f"cds_egress_{MESH}_server_http_8080", f"cds_egress_{MESH}_other_http_8080"
    carried = translate(dataclasses.replace(state), caller, stale, frozenset({"server"})).of(XdsType.ENDPOINTS)
    assert carried[server] == current[server] and carried[server].endpoints  # touched: rendered from the state
    assert carried[other] == stale[other] and not carried[other].endpoints  # untouched: as last published


class _CountedReads(dict[str, Any]):
    """A state's discovered endpoints that count the reads of each node's."""

    def __init__(self, endpoints: Any) -> None:
        super().__init__(endpoints)
        self.reads: dict[str, int] = {}

    def get(self, node: str, default: Any = None) -> Any:
        self.reads[node] = self.reads.get(node, 0) + 1
        return super().get(node, default)


def test_a_nodes_endpoints_are_read_once_for_all_the_callers_that_share_its_assignment(state: MeshState) -> None:
    counted = _CountedReads(state.endpoints)
    fresh = dataclasses.replace(state, endpoints=counted)
    everyone = sorted(proxies(fresh))
    backends = {p: {s.service for s in resolve(dataclasses.replace(state), p)[0].services} for p in everyone}
    callers = [p for p in everyone if "other.local" in backends[p]]
    assert len(callers) > 3 and everyone[0] in callers
    for proxy in everyone:
        translate(fresh, proxy)
    # Once for the state's first proxy, which renders alone, and once for every caller after it.
    assert counted.reads["other"] == 2
