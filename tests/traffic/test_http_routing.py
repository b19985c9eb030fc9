"""HTTP route matching and priority: each route sends to its own backend, so the answering app names the route.

Backends are reached directly (no sidecar of their own): matching is the caller's job.
"""

from __future__ import annotations

from typing import Any

import pytest
from support import Lab, MeshBuilder, Sidecar, http_request, listener, target

pytestmark = pytest.mark.envoy

SERVICE = "shop.routing.local"
HOST = f"{SERVICE}:8080"


def _route(priority: int, backend: str, **match: Any) -> dict[str, Any]:
    return {
        "priority": priority,
        "httpRoute": {"match": {"prefix": "/", **match}, "action": {"weightedTargets": [target(backend)]}},
    }


def _header(name: str, **match: Any) -> list[dict[str, Any]]:
    return [{"name": name, "match": match}]


ROUTES: dict[str, dict[str, Any]] = {
    "header-exact": _route(10, "header-exact", headers=_header("x-variant", exact="blue")),
    "header-regex": _route(11, "header-regex", headers=_header("x-user", regex="admin-[0-9]+")),
    "header-range": _route(12, "header-range", headers=_header("x-tier", range={"start": 5, "end": 9})),
    "method-post": _route(20, "method-post", method="POST"),
    "query": _route(30, "query", queryParameters=[{"name": "flavour", "match": {"exact": "mint"}}]),
    "path-exact": _route(40, "path-exact", prefix=None, path={"exact": "/checkout"}),
    "path-regex": _route(41, "path-regex", prefix=None, path={"regex": "/items/[0-9]+"}),
    "prefix-api": _route(50, "prefix-api", prefix="/api"),
    "default": _route(1000, "default"),
}


@pytest.fixture(scope="module")
def caller(lab: Lab) -> Sidecar:
    mesh = MeshBuilder("routing-mesh")
    mesh.node("client", backends=(SERVICE,))
    mesh.router("shop-router", 8080)
    mesh.service(SERVICE, router="shop-router")
    for name, spec in ROUTES.items():
        match = spec["httpRoute"]["match"]
        if match.get("prefix") is None:
            del match["prefix"]
        mesh.node(name, listener(8080))
        mesh.route("shop-router", name, spec)
    addresses = {name: lab.place(mesh, name, sidecar=False) for name in ROUTES}
    for name, address in addresses.items():
        lab.http_app(name, address, 8080)
    return lab.sidecar(mesh.build(), "client", lab.address())


def _answer(caller: Sidecar, path: str = "/", **kwargs: Any) -> str | None:
    reply = http_request(caller.egress, HOST, path, **kwargs)
    assert reply.status == 200, reply
    return reply.upstream


@pytest.mark.parametrize(
    ("request_kwargs", "expected"),
    [
        ({"headers": {"x-variant": "blue"}}, "header-exact"),
        ({"headers": {"x-variant": "green"}}, "default"),
        ({"headers": {"x-user": "admin-42"}}, "header-regex"),
        ({"headers": {"x-user": "admin-x"}}, "default"),
        ({"headers": {"x-tier": "7"}}, "header-range"),
        ({"headers": {"x-tier": "9"}}, "default"),  # the range end is exclusive
        ({"method": "POST", "body": b"{}"}, "method-post"),
        ({"method": "DELETE"}, "default"),
        ({"path": "/search?flavour=mint"}, "query"),
        ({"path": "/search?flavour=lime"}, "default"),
        ({"path": "/checkout"}, "path-exact"),
        ({"path": "/checkout/extra"}, "default"),
        ({"path": "/items/123"}, "path-regex"),
        ({"path": "/items/abc"}, "default"),
        ({"path": "/api/orders"}, "prefix-api"),
        ({"path": "/"}, "default"),
    ],
)
def test_request_reaches_the_backend_of_the_route_it_matches(
    caller: Sidecar, request_kwargs: dict[str, Any], expected: str
) -> None:
    assert _answer(caller, **request_kwargs) == expected


def test_higher_priority_route_wins_when_several_match(caller: Sidecar) -> None:
    # matches header-exact (10), method-post (20) and prefix-api (50)
    assert _answer(caller, "/api/x", method="POST", body=b"{}", headers={"x-variant": "blue"}) == "header-exact"
    # matches method-post (20) and prefix-api (50): priority, not prefix length, decides
    assert _answer(caller, "/api/x", method="POST", body=b"{}") == "method-post"
    # matches query (30) and path-exact (40)
    assert _answer(caller, "/checkout?flavour=mint") == "query"


def test_unknown_host_is_not_routed_anywhere(caller: Sidecar) -> None:
    reply = http_request(caller.egress, "elsewhere.routing.local:8080", "/")
    assert reply.status == 404 and reply.upstream is None
