"""The App Mesh controller's rules, as the import applies them to CRDs (names, membership, references)."""

from __future__ import annotations

from typing import Any

import pytest
from meshplane.migrate.desired import Desired
from meshplane.migrate.errors import InvalidSource
from meshplane.migrate.sources import kubernetes
from meshplane.model.ids import Kind


def obj(kind: str, name: str, spec: dict[str, Any], namespace: str | None = "shop",
        labels: dict[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, **({"namespace": namespace} if namespace else {})}
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": kubernetes.VERSION, "kind": kind, "metadata": metadata, "spec": spec}


NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": {"mesh": "m"}}}
MESH = obj("Mesh", "m", {"namespaceSelector": {"matchLabels": {"mesh": "m"}}}, namespace=None)
LISTENER = {"portMapping": {"port": 80, "protocol": "http"}}


def load(*documents: Any) -> dict[tuple[Kind, str, str | None], Desired]:
    return {(d.key.kind, d.key.name, d.key.parent): d for d in kubernetes.load("k8s.yaml", list(documents))}


def test_names_follow_the_controller_defaults_and_aws_name() -> None:
    found = load(NAMESPACE, MESH,
                 obj("VirtualNode", "web", {"listeners": [LISTENER]}),
                 obj("VirtualNode", "api", {"awsName": "api-v2"}),
                 obj("VirtualService", "web", {}),
                 obj("VirtualRouter", "web-router", {"listeners": [LISTENER], "routes": [
                     {"name": "main", "httpRoute": {"match": {"prefix": "/"}, "action": {
                         "weightedTargets": [{"virtualNodeRef": {"name": "web"}, "weight": 1}]}}}]}))
    assert set(found) == {(Kind.MESH, "m", None), (Kind.VIRTUAL_NODE, "web_shop", None),
                          (Kind.VIRTUAL_NODE, "api-v2", None), (Kind.VIRTUAL_SERVICE, "web.shop", None),
                          (Kind.VIRTUAL_ROUTER, "web-router_shop", None), (Kind.ROUTE, "main", "web-router_shop")}
    route = found[(Kind.ROUTE, "main", "web-router_shop")]
    assert route.spec["httpRoute"]["action"]["weightedTargets"] == [{"virtualNode": "web_shop", "weight": 1}]
    assert all(d.key.mesh == "m" and d.tags is None for d in found.values())  # the controller sets no tags


def test_mesh_ref_wins_over_the_namespace_selector_and_kubectl_lists_are_read() -> None:
    other = obj("Mesh", "other", {"awsName": "other-mesh"}, namespace=None)
    node = obj("VirtualNode", "web", {"meshRef": {"name": "other", "uid": "x"}})
    found = load({"apiVersion": "v1", "kind": "List", "items": [NAMESPACE, MESH, other, node]})
    assert found[(Kind.VIRTUAL_NODE, "web_shop", None)].key.mesh == "other-mesh"


def test_a_gateway_route_finds_its_gateway_by_selectors() -> None:
    gateway_a = obj("VirtualGateway", "gw-a", {"namespaceSelector": {"matchLabels": {"mesh": "m"}},
                                               "gatewayRouteSelector": {"matchLabels": {"gw": "a"}},
                                               "listeners": [LISTENER]})
    gateway_b = obj("VirtualGateway", "gw-b", {"namespaceSelector": {"matchExpressions": [
        {"key": "mesh", "operator": "In", "values": ["m"]}]}, "gatewayRouteSelector": {"matchLabels": {"gw": "b"}},
        "listeners": [LISTENER]})
    service = obj("VirtualService", "web", {"awsName": "web.local"})
    route = obj("GatewayRoute", "to-web", {"httpRoute": {"match": {"prefix": "/"}, "action": {"target": {
        "virtualService": {"virtualServiceRef": {"name": "web"}}}}}}, labels={"gw": "b"})
    found = load(NAMESPACE, MESH, gateway_a, gateway_b, service, route)
    desired = found[(Kind.GATEWAY_ROUTE, "to-web_shop", "gw-b_shop")]
    assert desired.spec["httpRoute"]["action"]["target"] == {"virtualService": {"virtualServiceName": "web.local"}}


def test_backend_groups_add_their_services_once() -> None:
    services = [obj("VirtualService", n, {"awsName": f"{n}.local"}) for n in ("a", "b", "c")]
    group = {"apiVersion": kubernetes.VERSION, "kind": "BackendGroup", "metadata": {"name": "g", "namespace": "shop"},
             "spec": {"virtualServices": [{"name": "b"}, {"name": "a"}]}}
    node = obj("VirtualNode", "web", {"backends": [{"virtualService": {"virtualServiceRef": {"name": "a"}}}],
                                      "backendGroups": [{"name": "g"}, {"name": "*"}]})
    found = load(NAMESPACE, MESH, *services, group, node)
    backends = found[(Kind.VIRTUAL_NODE, "web_shop", None)].spec["backends"]
    assert [b["virtualService"]["virtualServiceName"] for b in backends] == ["a.local", "b.local", "c.local"]


def test_an_acm_trust_on_a_gateway_listener_is_dropped_as_the_controller_did() -> None:
    listener = {**LISTENER, "tls": {"mode": "STRICT", "certificate": {"file": {"certificateChain": "/c",
                                                                                "privateKey": "/k"}},
                                    "validation": {"trust": {"acm": {"certificateAuthorityARNs": ["arn:x"]},
                                                             "file": {"certificateChain": "/ca"}}}}}
    found = load(NAMESPACE, MESH, obj("VirtualGateway", "gw", {"listeners": [listener]}))
    desired = found[(Kind.VIRTUAL_GATEWAY, "gw_shop", None)]
    assert desired.spec["listeners"][0]["tls"]["validation"]["trust"] == {"file": {"certificateChain": "/ca"}}
    assert desired.notes == ["spec.listeners[0].tls.validation.trust.acm: App Mesh has no ACM trust on gateway "
                             "listeners; the controller dropped it"]


@pytest.mark.parametrize(("documents", "message"), [
    ([NAMESPACE, MESH, obj("VirtualNode", "n", {"backends": [{"virtualService": {
        "virtualServiceARN": "arn:aws:appmesh:us-east-1:1:mesh/m/virtualNode/x"}}]})],
     "VirtualNode shop/n: spec.backends[0].virtualService.virtualServiceARN: must be the ARN of a virtualService"),
    ([MESH, obj("VirtualNode", "n", {})],
     "VirtualNode shop/n: spec.meshRef: not set, and Namespace 'shop' is not in the sources"),
    ([NAMESPACE, MESH, obj("Mesh", "m2", {"namespaceSelector": {}}, namespace=None), obj("VirtualNode", "n", {})],
     "not exactly one Mesh whose namespaceSelector matches namespace 'shop' (found: m, m2)"),
    ([NAMESPACE, MESH, obj("Mesh", "m2", {}, namespace=None), obj("VirtualService", "s", {"meshRef": {"name": "m2"}}),
      obj("VirtualNode", "n", {"backends": [{"virtualService": {"virtualServiceRef": {"name": "s"}}}]})],
     "spec.backends[0].virtualService.virtualServiceRef: VirtualService shop/s belongs to another mesh than 'm'"),
    ([NAMESPACE, MESH, obj("VirtualNode", "n", {"listeners": [{"portMapping": {"port": 80, "protocol": "http"},
                                                              "tls": {"bogus": 1}}]})],
     "VirtualNode shop/n: spec.listeners[0].tls.bogus: unknown property"),
    ([NAMESPACE, MESH, "just a string"], "k8s.yaml: document 3: is not a Kubernetes object"),
])
def test_bad_crds_name_the_object_and_field(documents: list[Any], message: str) -> None:
    with pytest.raises(InvalidSource) as raised:
        load(*documents)
    assert message in str(raised.value)
