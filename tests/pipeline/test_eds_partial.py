"""An endpoints-only rebuild renders only the changed nodes' assignments and keeps the others, exactly.

`translate_endpoints(state, proxy, last, changed)` must equal the full EDS render of `state`
whenever `last` was rendered from every unchanged node's current endpoints, and must not
look up any other node's endpoints (each lookup is one DynamoDB Query in the pipeline).  The
mesh has every way a cluster takes endpoints from a node: weighted route targets, a
backend node with two listeners (two clusters from one node), a mirror's shadow cluster,
a zone-aware upstream (the caller's own instances as Envoy's local cluster), and a gateway.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping

import pytest
from meshplane.graph import proxies
from meshplane.model.ids import Kind, ProxyId
from meshplane.model.policy.zone_aware import LOCAL_CLUSTER
from meshplane.model.state import Endpoint, MeshState
from meshplane.translate import translate_endpoints
from support import MeshBuilder
from support.mesh import listener, target
from support.policies import policy

MESH = "partial"
NODES = ("front", "blue", "red", "green", "shadow")


def _mesh(moved: str | None = None) -> MeshState:
    """front -> colors (router: blue 3, red 1, mirrored to shadow) and green (http and tcp, zone-aware);
    a gateway routes to colors.  `moved` gets a third instance and loses its first one's health."""
    mesh = MeshBuilder(MESH)
    mesh.node("front", listener(9000), backends=("colors", "green"))
    for node in ("blue", "red", "shadow"):
        mesh.node(node, listener(8080))
    mesh.node("green", listener(8080), listener(9090, "tcp"))
    mesh.router("colors-router", 8080)
    mesh.route("colors-router", "split", {"httpRoute": {"match": {"prefix": "/"}, "action": {
        "weightedTargets": [target("blue", 3), target("red", 1)]}}})
    mesh.service("colors", router="colors-router").service("green", node="green")
    mesh.gateway("edge", {"listeners": [listener(8088)]})
    mesh.gateway_route("edge", "to-colors", {"httpRoute": {"match": {"prefix": "/"}, "action": {
        "target": {"virtualService": {"virtualServiceName": "colors"}}}}})
    for i, node in enumerate(NODES):
        for j, zone in enumerate(("zone-a", "zone-b")):
            mesh.endpoint(node, f"10.0.{i}.{j + 1}", zone=zone, healthy=not (node == moved and j == 0))
    if moved is not None:
        mesh.endpoint(moved, f"10.9.{NODES.index(moved)}.1", zone="zone-b")
    state = mesh.build()
    given = {
        "mirror": policy(MESH, "mirror", {"targets": [{"route": {"virtualRouterName": "colors-router",
                                                                  "routeName": "split"}}],
                                          "mirror": {"virtualNodeName": "shadow", "percent": 10}}),
        "zones": policy(MESH, "zones", {"targets": [{"virtualNode": {"virtualNodeName": "green"}}],
                                        "zoneAware": {}}),
    }
    return dataclasses.replace(state, policies=given)


class Lookups(Mapping[str, tuple[Endpoint, ...]]):
    """A node's endpoints, each lookup recorded (the pipeline's lookup is a Query)."""

    def __init__(self, endpoints: Mapping[str, tuple[Endpoint, ...]]) -> None:
        self._endpoints = endpoints
        self.read: set[str] = set()

    def __getitem__(self, node: str) -> tuple[Endpoint, ...]:
        self.read.add(node)
        return self._endpoints[node]

    def __iter__(self) -> Iterator[str]:
        return iter(self._endpoints)

    def __len__(self) -> int:
        return len(self._endpoints)


def _proxies() -> list[ProxyId]:
    return sorted(proxies(_mesh()))


def test_the_mesh_has_every_kind_of_endpoint_source() -> None:
    """Guards the premise: without these clusters the equality below would prove less."""
    eds = translate_endpoints(_mesh(), ProxyId(MESH, Kind.VIRTUAL_NODE, "front"))
    assert LOCAL_CLUSTER in eds
    assert {n for n in NODES if any(f"_{n}_" in cluster for cluster in eds)} == {"blue", "red", "green", "shadow"}
    assert sum("_green_" in cluster for cluster in eds) == 2
    assert any(p.kind is Kind.VIRTUAL_GATEWAY for p in _proxies())


@pytest.mark.parametrize("moved", NODES)
def test_rendering_the_changed_node_over_the_last_assignments_equals_the_full_render(moved: str) -> None:
    before, after = _mesh(), _mesh(moved)
    for proxy in _proxies():
        last = translate_endpoints(before, proxy)
        lookups = Lookups(after.endpoints)
        partial = translate_endpoints(dataclasses.replace(after, endpoints=lookups), proxy, last, {moved})
        assert dict(partial) == dict(translate_endpoints(after, proxy)), proxy.path
        assert lookups.read <= {moved}, proxy.path


def test_an_assignment_the_last_snapshot_lacks_is_rendered_and_one_it_no_longer_needs_is_dropped() -> None:
    before, after = _mesh(), _mesh("blue")
    front = ProxyId(MESH, Kind.VIRTUAL_NODE, "front")
    last = dict(translate_endpoints(before, front))
    lacking = next(cluster for cluster in last if "_red_" in cluster)
    del last[lacking]
    last["cds_egress_partial_gone_http_8080"] = last[LOCAL_CLUSTER]
    lookups = Lookups(after.endpoints)
    partial = translate_endpoints(dataclasses.replace(after, endpoints=lookups), front, last, {"blue"})
    assert dict(partial) == dict(translate_endpoints(after, front))
    assert lookups.read == {"blue", "red"}
