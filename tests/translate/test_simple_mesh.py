"""The simplest useful mesh: one caller, one backend service behind a router."""

from __future__ import annotations

import pytest
from meshplane.model.ids import Kind, ProxyId
from meshplane.snapshot.types import XdsType
from meshplane.translate import UnknownProxyError, translate
from meshplane.translate.envoy_check import validate
from meshplane.translate.static import inline_bootstrap
from support import MeshBuilder, listener, target

ALL = {"httpRoute": {"match": {"prefix": "/"}, "action": {"weightedTargets": [target("back")]}}}


def simple_mesh(name: str = "simple", back_address: str = "10.0.0.7"):
    return (
        MeshBuilder(name)
        .node("front", listener(8080), backends=("back.local",))
        .node("back", listener(9090))
        .service("back.local", router="back-router")
        .router("back-router", 9090)
        .route("back-router", "all", ALL)
        .endpoint("back", back_address)
        .build()
    )


def test_caller_gets_app_mesh_named_listeners_clusters_and_routes() -> None:
    snapshot = translate(simple_mesh(), ProxyId("simple", Kind.VIRTUAL_NODE, "front"))
    assert set(snapshot.of(XdsType.LISTENERS)) == {"lds_ingress_0.0.0.0_15000", "lds_egress_0.0.0.0_15001"}
    assert {"cds_ingress_simple_front_http_8080", "cds_egress_simple_back_http_9090"} <= set(
        snapshot.of(XdsType.CLUSTERS)
    )
    assert {"rds_ingress_http_8080", "rds_egress_http_9090"} <= set(snapshot.of(XdsType.ROUTES))
    egress = snapshot.of(XdsType.ROUTES)["rds_egress_http_9090"]
    assert [list(v.domains) for v in egress.virtual_hosts] == [["back.local", "back.local:9090"]]


def test_backend_endpoints_carry_discovered_address_and_port() -> None:
    snapshot = translate(simple_mesh(), ProxyId("simple", Kind.VIRTUAL_NODE, "front"))
    cla = snapshot.of(XdsType.ENDPOINTS)["cds_egress_simple_back_http_9090"]
    sock = cla.endpoints[0].lb_endpoints[0].endpoint.address.socket_address
    assert (sock.address, sock.port_value) == ("10.0.0.7", 15000)


def test_unknown_proxy_is_a_clear_error() -> None:
    with pytest.raises(UnknownProxyError, match="nope"):
        translate(simple_mesh(), ProxyId("simple", Kind.VIRTUAL_NODE, "nope"))


@pytest.mark.parametrize("node", ["front", "back"])
def test_real_envoy_accepts_each_proxy_of_the_simple_mesh(node: str) -> None:
    snapshot = translate(simple_mesh(), ProxyId("simple", Kind.VIRTUAL_NODE, node))
    validate(inline_bootstrap(snapshot, bind_address="127.0.0.1"))


def test_translation_is_deterministic_so_versions_only_change_with_content() -> None:
    proxy = ProxyId("simple", Kind.VIRTUAL_NODE, "front")
    first, again = translate(simple_mesh(), proxy), translate(simple_mesh(), proxy)
    assert first.versions == again.versions
    moved = simple_mesh(back_address="10.0.0.8")
    assert translate(moved, proxy).changed_types(first) == [XdsType.ENDPOINTS]


def test_a_node_without_listeners_has_only_the_egress_listener() -> None:
    state = MeshBuilder("bare").node("client", backends=("x.local",)).node("x", listener(80))
    snapshot = translate(state.service("x.local", node="x").build(), ProxyId("bare", Kind.VIRTUAL_NODE, "client"))
    assert set(snapshot.of(XdsType.LISTENERS)) == {"lds_egress_0.0.0.0_15001"}
