"""Where the graph puts each policy section, and which proxies record a policy as a dependency.

`front` calls `shop.local` (router -> `shop`); `edge` routes to `shop.local` too.  Each test gives
sections to one place and reads the views and dependencies back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from meshplane.graph import dependencies, resolve
from meshplane.model.ids import Kind, ProxyId, ResourceKey
from meshplane.model.policy.applied import NO_SECTIONS
from meshplane.model.policy.keys import PolicyKey
from meshplane.model.policy.spec import PolicyData, PolicySpec, PolicyTarget
from meshplane.model.state import MeshState
from pydantic import ValidationError
from support import MeshBuilder, listener, target

MESH = "graph-mesh"
FRONT, SHOP = ProxyId(MESH, Kind.VIRTUAL_NODE, "front"), ProxyId(MESH, Kind.VIRTUAL_NODE, "shop")
EDGE = ProxyId(MESH, Kind.VIRTUAL_GATEWAY, "edge")
AUTHZ = {"rules": [{"action": "DENY", "to": {"methods": ["DELETE"]}}]}
TRACING = {"collector": {"hostname": "otel.local", "port": 4317}}
NODE = {"virtualNode": {"virtualNodeName": "shop"}}
ROUTE = {"route": {"virtualRouterName": "shop-router", "routeName": "all"}}
GATEWAY_ROUTE = {"gatewayRoute": {"virtualGatewayName": "edge", "gatewayRouteName": "in"}}
HEADERS = {"request": {"remove": ["x-debug"]}}


def _state(*policies: tuple[str, dict[str, Any]]) -> MeshState:
    mesh = MeshBuilder(MESH)
    mesh.node("front", listener(9000), backends=("shop.local",))
    mesh.node("shop", listener(8080))
    mesh.router("shop-router", 8080)
    mesh.route("shop-router", "all", {"httpRoute": {"match": {"prefix": "/"},
                                                    "action": {"weightedTargets": [target("shop")]}}})
    mesh.service("shop.local", router="shop-router")
    mesh.gateway("edge", {"listeners": [listener(8088)]})
    mesh.gateway_route("edge", "in", {"httpRoute": {"match": {"prefix": "/"}, "action": {
        "target": {"virtualService": {"virtualServiceName": "shop.local"}}}}})
    now = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    meta = {"arn": "arn", "uid": "u", "version": 1, "createdAt": now, "lastUpdatedAt": now,
            "meshOwner": "111122223333", "resourceOwner": "111122223333"}
    found = {name: PolicyData.model_validate({"meshName": MESH, "policyName": name, "spec": spec, "metadata": meta})
             for name, spec in policies}
    return dataclasses.replace(mesh.build(), policies=found)


def _policy_deps(state: MeshState) -> dict[str, set[str]]:
    return {proxy.name: {k.name for k in dependencies(state, proxy) if isinstance(k, PolicyKey)}
            for proxy in (FRONT, SHOP, EDGE)}


def test_a_nodes_own_sections_ride_on_its_proxy_and_its_upstream_sections_on_its_callers() -> None:
    state = _state(("own", {"targets": [NODE], "authorization": AUTHZ, "zoneAware": {"minClusterSize": 1}}))
    shop = resolve(state, SHOP)[0]
    assert shop.policies.authorization is not None and shop.policies.zone_aware is None
    front = resolve(state, FRONT)[0]
    assert front.policies == NO_SECTIONS
    (upstream,) = front.upstreams
    assert upstream.policies.zone_aware is not None and upstream.policies.authorization is None
    assert upstream.policies.sources == ("own",)
    assert _policy_deps(state) == {"front": {"own"}, "shop": {"own"}, "edge": {"own"}}


def test_a_section_only_the_proxy_reads_is_a_dependency_of_that_proxy_only() -> None:
    assert _policy_deps(_state(("own", {"targets": [NODE], "authorization": AUTHZ}))) == {
        "front": set(), "shop": {"own"}, "edge": set()}


def test_route_and_gateway_route_sections_and_the_mesh_wide_tracing_under_a_nodes_own() -> None:
    state = _state(("routes", {"targets": [ROUTE, GATEWAY_ROUTE], "headers": HEADERS}),
                   ("mesh", {"targets": [{"mesh": {}}], "tracing": TRACING}),
                   ("node", {"targets": [NODE], "tracing": {**TRACING, "serviceName": "shop-svc"}}))
    front, edge, shop = (resolve(state, p)[0] for p in (FRONT, EDGE, SHOP))
    (route,) = front.services[0].routes
    assert route.policies.headers is not None and route.policies.sources == ("routes",)
    (gateway_route,) = edge.gateway_routes
    assert gateway_route.policies.headers is not None
    assert front.policies.tracing is not None and front.policies.tracing.service_name is None  # the mesh's
    assert shop.policies.tracing is not None and shop.policies.tracing.service_name == "shop-svc"  # its own
    assert _policy_deps(state) == {"front": {"routes", "mesh"}, "shop": {"node"}, "edge": {"routes", "mesh"}}


def test_two_policies_giving_one_section_to_one_target_keep_the_first_and_report_the_other() -> None:
    state = _state(("a", {"targets": [NODE], "authorization": AUTHZ}), ("b", {"targets": [NODE],
                                                                               "authorization": AUTHZ}))
    shop = resolve(state, SHOP)[0]
    assert shop.policies.sources == ("a",)
    assert "policy 'b' gives authorization to the same target as policy 'a', which is used" in shop.problems


def test_targets_round_trip_to_resource_keys() -> None:
    for spec in (NODE, ROUTE, GATEWAY_ROUTE, {"mesh": {}}, {"virtualGateway": {"virtualGatewayName": "edge"}}):
        found = PolicyTarget.model_validate(spec)
        assert PolicyTarget.of(found.key(MESH)) == found
    assert PolicyTarget.model_validate(ROUTE).key(MESH) == ResourceKey(Kind.ROUTE, MESH, "all", "shop-router")


@pytest.mark.parametrize(("section", "body", "allowed"), [
    ("authorization", AUTHZ, {"virtualNode", "virtualGateway"}),
    ("headers", HEADERS, {"route", "gatewayRoute", "virtualNode"}),
    ("tracing", TRACING, {"mesh", "virtualNode", "virtualGateway"}),
])
def test_each_section_takes_only_the_target_kinds_its_module_lists(section: str, body: Any, allowed: set[str]) -> None:
    targets = {"mesh": {"mesh": {}}, "virtualNode": NODE, "virtualGateway": {"virtualGateway": {
        "virtualGatewayName": "edge"}}, "route": ROUTE, "gatewayRoute": GATEWAY_ROUTE}
    for kind, spec in targets.items():
        if kind in allowed:
            PolicySpec.model_validate({"targets": [spec], section: body})
            continue
        with pytest.raises(ValidationError, match=f"{section}: applies to .* targets only, not targets\\[0\\]"):
            PolicySpec.model_validate({"targets": [spec], section: body})
