"""A route that does not fit its router's listener is never rendered, and never silently: the resolver names it.

The API refuses such routes (tests/api/test_route_fit.py); these states are what a route and
a router written at the same moment, or data stored before the rule, can still leave behind.
"""

from __future__ import annotations

from meshplane.graph.route_fit import misfit, stranded
from meshplane.model import shapes
from meshplane.model.ids import Kind, ProxyId
from meshplane.translate import problems
from support import MeshBuilder, listener, target


def _mesh(route_kind: str) -> MeshBuilder:
    mesh = MeshBuilder("fit")
    mesh.node("caller", backends=("svc.local",))
    mesh.node("back", listener(8080))
    mesh.router("r", (8080, "http"))
    mesh.route("r", "ok", {"httpRoute": {"match": {"prefix": "/"}, "action": {"weightedTargets": [target("back")]}}})
    mesh.route("r", "odd", {route_kind: {"action": {"weightedTargets": [target("back")]}}})
    mesh.service("svc.local", router="r")
    return mesh


def test_a_route_of_another_type_is_named_as_a_problem_once() -> None:
    found = problems(_mesh("tcpRoute").build(), ProxyId("fit", Kind.VIRTUAL_NODE, "caller"))
    assert found == (
        "route 'odd' of virtual router 'r': a tcp route cannot serve the http listener 8080; it is left out",
    )


def test_a_fitting_mesh_has_no_problem() -> None:
    mesh = _mesh("tcpRoute")
    mesh.route("r", "odd", {"httpRoute": {"match": {"prefix": "/x"}, "action": {"weightedTargets": [target("back")]}}})
    assert problems(mesh.build(), ProxyId("fit", Kind.VIRTUAL_NODE, "caller")) == ()


def _spec(body: dict) -> shapes.RouteSpec:
    return shapes.RouteSpec.model_validate(body)


def _listeners(*mappings: tuple[int, str]) -> list[shapes.VirtualRouterListener]:
    return [
        shapes.VirtualRouterListener.model_validate({"portMapping": {"port": p, "protocol": k}}) for p, k in mappings
    ]


GRPC_9090 = {"grpcRoute": {"match": {"port": 9090}, "action": {"weightedTargets": [{"virtualNode": "b", "weight": 1}]}}}


def test_misfit_follows_the_matched_port_and_leaves_port_rules_to_the_api() -> None:
    two = _listeners((8080, "http"), (9090, "grpc"))
    assert misfit(_spec(GRPC_9090), two, "r") is None
    on_http = {"grpcRoute": {**GRPC_9090["grpcRoute"], "match": {"port": 8080}}}
    assert misfit(_spec(on_http), two, "r") == (
        "spec.grpcRoute: a grpc route does not match the protocol http of virtual router 'r' listener 8080"
    )
    portless = {"grpcRoute": {"match": {}, "action": GRPC_9090["grpcRoute"]["action"]}}
    assert misfit(_spec(portless), two, "r") is None  # no port under two listeners: `_check_match_port` refuses it
    assert misfit(_spec(on_http), _listeners((8080, "grpc")), "r") is None


def test_stranded_routes_are_listed_up_to_five() -> None:
    mesh = MeshBuilder("stranded").router("r", (9090, "grpc"))
    portless = {"grpcRoute": {"match": {}, "action": GRPC_9090["grpcRoute"]["action"]}}
    for i in range(7):
        mesh.route("r", f"g{i}", portless)
    routes = sorted(mesh.build().routes.values(), key=lambda r: r.route_name)
    reason = stranded(routes, _listeners((8080, "grpc"), (9090, "grpc")), "r")
    assert reason is not None
    assert reason.endswith("7 Route(s) are missing port. Listing up to 5 route names: [g0, g1, g2, g3, g4]")
    assert stranded(routes, _listeners((9090, "grpc")), "r") is None
    assert stranded(routes, _listeners((9090, "http")), "r") == (
        "spec.listeners: the listener protocols of virtual router 'r' would no longer match the type of routes "
        "[g0, g1, g2, g3, g4]"
    )
