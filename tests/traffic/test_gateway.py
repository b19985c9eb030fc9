"""A virtual gateway: gateway routes match on hostname (exact, suffix) and prefix, rewrite the
matched prefix (to `/` by default, or a given value) and the host (to the target service)."""

from __future__ import annotations

from typing import Any

import pytest
from support import Lab, MeshBuilder, Sidecar, http_request, listener

pytestmark = pytest.mark.envoy

GATEWAY_PORT = 8088
SHOP = "shop.gw.local"
BLOG = "blog.gw.local"


def _gateway_route(service: str, match: dict[str, Any], rewrite: dict[str, Any] | None = None) -> dict[str, Any]:
    action: dict[str, Any] = {"target": {"virtualService": {"virtualServiceName": service}}}
    if rewrite is not None:
        action["rewrite"] = rewrite
    return {"httpRoute": {"match": match, "action": action}}


@pytest.fixture(scope="module")
def gateway(lab: Lab) -> Sidecar:
    mesh = MeshBuilder("gateway-mesh")
    mesh.gateway("ingress-gw", {"listeners": [{"portMapping": {"port": GATEWAY_PORT, "protocol": "http"}}]})
    mesh.gateway_route(
        "ingress-gw", "shop", _gateway_route(SHOP, {"prefix": "/shop/", "hostname": {"exact": "www.example.com"}})
    )
    mesh.gateway_route(
        "ingress-gw",
        "api",
        _gateway_route(
            SHOP, {"prefix": "/api/", "hostname": {"exact": "www.example.com"}}, {"prefix": {"value": "/v2/"}}
        ),
    )
    mesh.gateway_route(
        "ingress-gw", "blog", _gateway_route(BLOG, {"prefix": "/", "hostname": {"suffix": ".example.org"}})
    )
    for name, service in (("shop", SHOP), ("blog", BLOG)):
        mesh.node(name, listener(8080))
        mesh.service(service, node=name)
        lab.direct_http_app(mesh, name, name)
    return lab.sidecar(mesh.build(), "ingress-gw", lab.address(), gateway=True)


def test_exact_hostname_and_prefix_route_to_the_target_with_the_prefix_rewritten_to_root(gateway: Sidecar) -> None:
    reply = http_request(gateway.port(GATEWAY_PORT), "www.example.com", "/shop/items/7?x=1")
    assert reply.status == 200 and reply.upstream == "shop"
    assert reply.json["path"] == "/items/7?x=1"


def test_host_is_rewritten_to_the_target_virtual_service(gateway: Sidecar) -> None:
    reply = http_request(gateway.port(GATEWAY_PORT), "www.example.com", "/shop/")
    assert reply.json["headers"]["host"].split(":")[0] == SHOP


def test_prefix_rewrite_value_replaces_the_matched_prefix(gateway: Sidecar) -> None:
    reply = http_request(gateway.port(GATEWAY_PORT), "www.example.com", "/api/list")
    assert reply.status == 200 and reply.upstream == "shop"
    assert reply.json["path"] == "/v2/list"


@pytest.mark.parametrize("host", ["news.example.org", "www.example.org:8088"])
def test_hostname_suffix_routes_to_its_target(gateway: Sidecar, host: str) -> None:
    reply = http_request(gateway.port(GATEWAY_PORT), host, "/posts/1")
    assert reply.status == 200 and reply.upstream == "blog"
    assert reply.json["path"] == "/posts/1"


@pytest.mark.parametrize(("host", "path"), [("www.example.com", "/blog/1"), ("www.example.net", "/shop/1")])
def test_requests_no_gateway_route_matches_are_not_routed(gateway: Sidecar, host: str, path: str) -> None:
    reply = http_request(gateway.port(GATEWAY_PORT), host, path)
    assert reply.status == 404 and reply.upstream is None
