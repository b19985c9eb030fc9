"""A route's type must be its router listener's protocol; App Mesh refused writes that broke it, either way round."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .specs import http_route, node_spec, router_spec


def _refused(client: Any, call: Callable[[], Any], says: str) -> None:
    with pytest.raises(client.exceptions.BadRequestException) as info:
        call()
    assert says in info.value.response["Error"]["Message"]


def _route(kind: str, port: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"action": {"weightedTargets": [{"virtualNode": "n", "weight": 1}]}}
    match: dict[str, Any] = {} if kind in ("tcpRoute", "grpcRoute") else {"prefix": "/"}
    if port is not None:
        match["port"] = port
    if match or kind == "grpcRoute":
        body["match"] = match
    return {kind: body}


def _listeners(*mappings: tuple[int, str]) -> dict[str, Any]:
    return {"listeners": [{"portMapping": {"port": p, "protocol": proto}} for p, proto in mappings]}


@pytest.fixture
def router(appmesh: Any, mesh: str) -> str:
    appmesh.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec(80))
    appmesh.create_virtual_router(meshName=mesh, virtualRouterName="r", spec=router_spec(8080))
    return "r"


@pytest.mark.parametrize("kind", ["tcpRoute", "http2Route", "grpcRoute"])
def test_a_route_of_another_type_than_the_listener_is_refused(appmesh: Any, mesh: str, router: str, kind: str) -> None:
    protocol = {"tcpRoute": "tcp", "http2Route": "http2", "grpcRoute": "grpc"}[kind]
    _refused(
        appmesh,
        lambda: appmesh.create_route(meshName=mesh, virtualRouterName=router, routeName="x", spec=_route(kind)),
        f"spec.{kind}: a {protocol} route does not match the protocol http of virtual router 'r' listener 8080",
    )
    assert appmesh.list_routes(meshName=mesh, virtualRouterName=router)["routes"] == []


def test_a_route_of_the_listener_type_is_accepted_and_cannot_change_type(appmesh: Any, mesh: str, router: str) -> None:
    appmesh.create_route(meshName=mesh, virtualRouterName=router, routeName="x", spec=http_route(("n", 1)))
    _refused(
        appmesh,
        lambda: appmesh.update_route(meshName=mesh, virtualRouterName=router, routeName="x", spec=_route("tcpRoute")),
        "a tcp route does not match the protocol http",
    )


def test_under_several_listeners_the_matched_port_decides(appmesh: Any, mesh: str) -> None:
    appmesh.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec(80))
    appmesh.create_virtual_router(meshName=mesh, virtualRouterName="r", spec=_listeners((8080, "http"), (9090, "grpc")))
    _refused(
        appmesh,
        lambda: appmesh.create_route(
            meshName=mesh, virtualRouterName="r", routeName="g", spec=_route("grpcRoute", 8080)
        ),
        "a grpc route does not match the protocol http of virtual router 'r' listener 8080",
    )
    appmesh.create_route(meshName=mesh, virtualRouterName="r", routeName="g", spec=_route("grpcRoute", 9090))
    appmesh.create_route(meshName=mesh, virtualRouterName="r", routeName="h", spec=_route("httpRoute", 8080))


def test_a_listener_protocol_cannot_change_under_its_routes(appmesh: Any, mesh: str, router: str) -> None:
    appmesh.create_route(meshName=mesh, virtualRouterName=router, routeName="web", spec=http_route(("n", 1)))
    _refused(
        appmesh,
        lambda: appmesh.update_virtual_router(
            meshName=mesh, virtualRouterName=router, spec=_listeners((8080, "http2"))
        ),
        "would no longer match the type of routes [web]",
    )
    # App Mesh's order, as its Kubernetes controller does it: the route goes first, then the listener changes.
    appmesh.delete_route(meshName=mesh, virtualRouterName=router, routeName="web")
    appmesh.update_virtual_router(meshName=mesh, virtualRouterName=router, spec=_listeners((8080, "http2")))
    appmesh.create_route(meshName=mesh, virtualRouterName=router, routeName="web", spec=_route("http2Route"))


def test_a_second_listener_needs_every_route_to_match_a_port(appmesh: Any, mesh: str, router: str) -> None:
    appmesh.create_route(meshName=mesh, virtualRouterName=router, routeName="web", spec=http_route(("n", 1)))
    _refused(
        appmesh,
        lambda: appmesh.update_virtual_router(
            meshName=mesh, virtualRouterName=router, spec=_listeners((8080, "http"), (9090, "grpc"))
        ),
        "All Routes for this Virtual Router must define a port match before adding multiple listeners to this "
        "Virtual Router. 1 Route(s) are missing port. Listing up to 5 route names: [web]",
    )


def test_a_listener_cannot_go_while_a_route_matches_its_port(appmesh: Any, mesh: str, router: str) -> None:
    appmesh.create_route(meshName=mesh, virtualRouterName=router, routeName="web", spec=_route("httpRoute", 8080))
    _refused(
        appmesh,
        lambda: appmesh.update_virtual_router(meshName=mesh, virtualRouterName=router, spec=router_spec(8081)),
        "routes [web] of virtual router 'r' match ports it would not listen on",
    )
