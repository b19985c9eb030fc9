"""Hostile names and the world they are thrown at: shared by the in-process tests and the local-up fuzz."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

from .specs import gateway_route, gateway_spec, http_route, node_spec, router_spec

API = "/v20190125"
HOSTILE_NAMES = {
    "NUL": "a\x00b",
    "TAB": "a\tb",
    "CRLF": "a\r\nb",
    "U+202E": "abc\u202etxt",
    "BOM": "\ufeffabc",
    "dot-dot": "a..b",
    "star": "front-*",
    "question mark": "front-?",
    "255 emoji": "\U0001F600" * 255,
}
# the world mesh's resources, which the requests below name
NODE, ROUTER, SERVICE, GATEWAY = "n", "r", "svc.local", "gw"


def build_world(client: Any, mesh: str) -> str:
    """A mesh with a node, a router, a service and a gateway, so every create below has what it names; its ARN."""
    created = client.create_mesh(meshName=mesh)
    client.create_virtual_node(meshName=mesh, virtualNodeName=NODE, spec=node_spec(80))
    client.create_virtual_router(meshName=mesh, virtualRouterName=ROUTER, spec=router_spec())
    client.create_virtual_service(meshName=mesh, virtualServiceName=SERVICE, spec={})
    client.create_virtual_gateway(meshName=mesh, virtualGatewayName=GATEWAY, spec=gateway_spec())
    return str(created["mesh"]["metadata"]["arn"])


def state(client: Any, mesh: str) -> dict[str, Any]:
    """What the list operations show: every mesh, and every resource (name and version) and tag of `mesh`."""
    routers = client.list_virtual_routers(meshName=mesh)["virtualRouters"]
    gateways = client.list_virtual_gateways(meshName=mesh)["virtualGateways"]
    arn = client.describe_mesh(meshName=mesh)["mesh"]["metadata"]["arn"]
    return {
        "meshes": _refs(m for page in client.get_paginator("list_meshes").paginate() for m in page["meshes"]),
        "nodes": _refs(client.list_virtual_nodes(meshName=mesh)["virtualNodes"]),
        "services": _refs(client.list_virtual_services(meshName=mesh)["virtualServices"]),
        "routers": _refs(routers),
        "gateways": _refs(gateways),
        "routes": _refs(r for router in routers for r in client.list_routes(
            meshName=mesh, virtualRouterName=router["virtualRouterName"])["routes"]),
        "gatewayRoutes": _refs(r for gateway in gateways for r in client.list_gateway_routes(
            meshName=mesh, virtualGatewayName=gateway["virtualGatewayName"])["gatewayRoutes"]),
        "tags": client.list_tags_for_resource(resourceArn=arn)["tags"],
    }


def _refs(refs: Iterable[dict[str, Any]]) -> list[tuple[str, int]]:
    """(ARN, version) of each listed resource: a create, delete or update changes the list."""
    return sorted((ref["arn"], ref["version"]) for ref in refs)


Request = tuple[str, str, "dict[str, Any] | None"]  # method, path, JSON body


def _label(name: str) -> str:
    return quote(name, safe="")  # percent-encoded, as SDKs send URI labels


# (case, the field named, a request whose `field` is `name` in the world mesh `m`)
NAMED: list[tuple[str, str, Callable[[str, str], Request]]] = [
    ("body", "meshName", lambda m, name: ("PUT", f"{API}/meshes", {"meshName": name})),
    ("body", "virtualNodeName", lambda m, name: (
        "PUT", f"{API}/meshes/{m}/virtualNodes", {"virtualNodeName": name, "spec": node_spec(80)})),
    ("body", "virtualRouterName", lambda m, name: (
        "PUT", f"{API}/meshes/{m}/virtualRouters", {"virtualRouterName": name, "spec": router_spec()})),
    ("body", "routeName", lambda m, name: (
        "PUT", f"{API}/meshes/{m}/virtualRouter/{ROUTER}/routes", {"routeName": name, "spec": http_route((NODE, 1))})),
    ("body", "virtualServiceName", lambda m, name: (
        "PUT", f"{API}/meshes/{m}/virtualServices", {"virtualServiceName": name, "spec": {}})),
    ("body", "virtualGatewayName", lambda m, name: (
        "PUT", f"{API}/meshes/{m}/virtualGateways", {"virtualGatewayName": name, "spec": gateway_spec()})),
    ("body", "gatewayRouteName", lambda m, name: (
        "PUT", f"{API}/meshes/{m}/virtualGateway/{GATEWAY}/gatewayRoutes",
        {"gatewayRouteName": name, "spec": gateway_route(SERVICE)})),
    ("label", "meshName", lambda m, name: (
        "PUT", f"{API}/meshes/{_label(name)}/virtualNodes", {"virtualNodeName": "x", "spec": node_spec(80)})),
    ("label", "virtualRouterName", lambda m, name: (
        "PUT", f"{API}/meshes/{m}/virtualRouter/{_label(name)}/routes",
        {"routeName": "x", "spec": http_route((NODE, 1))})),
    ("label", "virtualGatewayName", lambda m, name: (
        "PUT", f"{API}/meshes/{m}/virtualGateway/{_label(name)}/gatewayRoutes",
        {"gatewayRouteName": "x", "spec": gateway_route(SERVICE)})),
    ("label", "virtualServiceName", lambda m, name: (
        "GET", f"{API}/meshes/{m}/virtualServices/{_label(name)}", None)),
    ("reference", "spec.httpRoute.action.weightedTargets[0].virtualNode", lambda m, name: (
        "PUT", f"{API}/meshes/{m}/virtualRouter/{ROUTER}/routes", {"routeName": "x", "spec": http_route((name, 1))})),
    ("reference", "spec.backends[0].virtualService.virtualServiceName", lambda m, name: (
        "PUT", f"{API}/meshes/{m}/virtualNodes", {"virtualNodeName": "x", "spec": node_spec(80, backends=(name,))})),
]


