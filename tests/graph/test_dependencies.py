"""What a proxy depends on: the keys its config was built from, and whose endpoints it consumes."""

from __future__ import annotations

import pytest
from meshplane.graph import UnknownProxyError, dependencies, endpoint_dependencies, proxies, resolve
from meshplane.model.ids import Kind, ProxyId, ResourceKey
from meshplane.model.state import MeshState
from support import MeshBuilder, listener, target

MESH = "deps"


def _mesh() -> MeshState:
    route = {"httpRoute": {"match": {"prefix": "/"}, "action": {"weightedTargets": [target("v1"), target("v2")]}}}
    gw_route = {
        "httpRoute": {"match": {"prefix": "/"}, "action": {"target": {"virtualService": {"virtualServiceName": "api"}}}}
    }
    return (
        MeshBuilder(MESH)
        .node("caller", listener(8080), backends=("api", "dns-svc", "ghost"))
        .node("v1", listener(9000))
        .node("v2", listener(9000))
        .node("dns", listener(7000), serviceDiscovery={"dns": {"hostname": "dns.example.com"}})
        .node("bystander", listener(6000))
        .service("api", router="r")
        .service("dns-svc", node="dns")
        .router("r", 9000)
        .route("r", "all", route)
        .gateway("gw", {"listeners": [{"portMapping": {"port": 8088, "protocol": "http"}}]})
        .gateway_route("gw", "to-api", gw_route)
        .build()
    )


def key(kind: Kind, name: str, parent: str | None = None) -> ResourceKey:
    return ResourceKey(kind, MESH, name, parent)


def test_a_node_depends_on_its_backends_whole_resolution_chain_including_missing_ones() -> None:
    deps = dependencies(_mesh(), ProxyId(MESH, Kind.VIRTUAL_NODE, "caller"))
    assert deps == {
        key(Kind.MESH, MESH),
        key(Kind.VIRTUAL_NODE, "caller"),
        key(Kind.VIRTUAL_SERVICE, "api"),
        key(Kind.VIRTUAL_ROUTER, "r"),
        key(Kind.ROUTE, "all", "r"),
        key(Kind.VIRTUAL_NODE, "v1"),
        key(Kind.VIRTUAL_NODE, "v2"),
        key(Kind.VIRTUAL_SERVICE, "dns-svc"),
        key(Kind.VIRTUAL_NODE, "dns"),
        key(Kind.VIRTUAL_SERVICE, "ghost"),  # missing today: creating it must wake this proxy
    }


def test_only_eds_backends_count_as_endpoint_dependencies() -> None:
    assert endpoint_dependencies(_mesh(), ProxyId(MESH, Kind.VIRTUAL_NODE, "caller")) == {"v1", "v2"}
    assert endpoint_dependencies(_mesh(), ProxyId(MESH, Kind.VIRTUAL_NODE, "bystander")) == frozenset()


def test_a_gateway_depends_on_its_routes_and_their_targets() -> None:
    deps = dependencies(_mesh(), ProxyId(MESH, Kind.VIRTUAL_GATEWAY, "gw"))
    assert {
        key(Kind.VIRTUAL_GATEWAY, "gw"),
        key(Kind.GATEWAY_ROUTE, "to-api", "gw"),
        key(Kind.ROUTE, "all", "r"),
    } <= deps
    assert key(Kind.VIRTUAL_NODE, "caller") not in deps


def test_proxies_lists_every_node_and_gateway() -> None:
    assert [p.path for p in proxies(_mesh())] == [
        "mesh/deps/virtualGateway/gw",
        "mesh/deps/virtualNode/bystander",
        "mesh/deps/virtualNode/caller",
        "mesh/deps/virtualNode/dns",
        "mesh/deps/virtualNode/v1",
        "mesh/deps/virtualNode/v2",
    ]


def test_unresolvable_backends_become_problems_not_exceptions() -> None:
    view, _ = resolve(_mesh(), ProxyId(MESH, Kind.VIRTUAL_NODE, "caller"))
    assert view.problems == ("backend virtual service 'ghost' does not exist",)


def test_unknown_proxies_and_foreign_meshes_are_refused() -> None:
    with pytest.raises(UnknownProxyError):
        resolve(_mesh(), ProxyId(MESH, Kind.VIRTUAL_GATEWAY, "nope"))
    with pytest.raises(UnknownProxyError):
        resolve(_mesh(), ProxyId("other", Kind.VIRTUAL_NODE, "caller"))


def test_the_paths_a_walk_read_are_the_paths_of_the_keys_it_read() -> None:
    from .test_shared_walks import _state as walked

    for state in (_mesh(), walked()):  # routes, a gateway, policies, missing backends
        for proxy in proxies(state):
            resolver = resolve(state, proxy)[1]
            assert resolver.paths == {k.path for k in resolver.keys}, proxy.path
