"""A mesh without policies translates to exactly the Envoy config it did before policies existed.

The pinned versions were computed by this module's `digests` on commit 241dfb2, the last commit
before any policy work (in a `git worktree` of it, with `PYTHONPATH` pointing at its `layers/`).
The mesh uses every App Mesh feature the translator renders: HTTP, HTTP/2, gRPC and TCP
listeners and routes, mTLS both ways, health checks, outlier detection, timeouts, connection
pools, retries, header and query matches, weighted targets, DNS and Cloud Map discovery with
zones, a gateway with hostname matches and rewrites, access logs, and the `meshplane.io/` tag
extensions.  A version is the snapshot's digest of its deterministic protobuf bytes, per xDS type.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from meshplane.graph import proxies
from meshplane.model import shapes
from meshplane.model.ids import Kind, ResourceKey
from meshplane.model.state import Endpoint, MeshState
from meshplane.translate import problems, translate

MESH = "pin-mesh"
ACCOUNT = "111122223333"
CERT = {"file": {"certificateChain": "/certs/chain.pem", "privateKey": "/certs/key.pem"}}
TRUST = {"trust": {"file": {"certificateChain": "/certs/ca.pem"}}}
MS = "ms"

# proxy path -> the snapshot version computed on 241dfb2 (see the module docstring)
PINNED: dict[str, str] = {
    "mesh/pin-mesh/virtualGateway/edge": "dc03761492d03fd2",
    "mesh/pin-mesh/virtualNode/front": "eb422b009bcb62ed",
    "mesh/pin-mesh/virtualNode/ledger": "0b9eebb50fc6cd75",
    "mesh/pin-mesh/virtualNode/orders-v1": "b30e6406cc3ee654",
    "mesh/pin-mesh/virtualNode/orders-v2": "b05b9e1a7a9254af",
    "mesh/pin-mesh/virtualNode/search": "a7f992deb677b9d8",
    "mesh/pin-mesh/virtualNode/stock": "ecf63cf4b336e8f4",
}


def _meta(path: str) -> dict[str, Any]:
    now = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    return {"arn": f"arn:aws:appmesh:us-west-2:{ACCOUNT}:mesh/{MESH}/{path}", "uid": path, "version": 1,
            "createdAt": now, "lastUpdatedAt": now, "meshOwner": ACCOUNT, "resourceOwner": ACCOUNT}


def _data(model: type[Any], path: str, spec: dict[str, Any], **names: str) -> Any:
    return model.model_validate({"meshName": MESH, "metadata": _meta(path), "spec": spec,
                                 "status": {"status": "ACTIVE"}, **names})


def _nodes() -> dict[str, dict[str, Any]]:
    client_tls = {"clientPolicy": {"tls": {"enforce": True, "certificate": CERT, "validation": {
        **TRUST, "subjectAlternativeNames": {"match": {"exact": ["orders.pin.local"]}}}}}}
    return {
        "front": {
            "listeners": [{"portMapping": {"port": 8080, "protocol": "http"},
                           "timeout": {"http": {"perRequest": {"unit": MS, "value": 5000}}}}],
            "backends": [{"virtualService": {"virtualServiceName": s}} for s in
                         ("orders.pin.local", "stock.pin.local", "ledger.pin.local", "search.pin.local")],
            "backendDefaults": client_tls,
            "serviceDiscovery": {"dns": {"hostname": "front.pin.local"}},
            "logging": {"accessLog": {"file": {
                "path": "/dev/stdout", "format": {"text": "%START_TIME% %RESPONSE_CODE%\n"}}}},
        },
        "orders-v1": {
            "listeners": [{
                "portMapping": {"port": 8080, "protocol": "http"},
                "tls": {"mode": "STRICT", "certificate": CERT, "validation": TRUST},
                "healthCheck": {"protocol": "http", "path": "/health", "healthyThreshold": 2, "unhealthyThreshold": 3,
                                "intervalMillis": 5000, "timeoutMillis": 2000},
                "outlierDetection": {"maxServerErrors": 3, "interval": {"unit": "s", "value": 10},
                                     "baseEjectionDuration": {"unit": "s", "value": 30}, "maxEjectionPercent": 50},
                "connectionPool": {"http": {"maxConnections": 100, "maxPendingRequests": 50}},
            }],
            "serviceDiscovery": {"awsCloudMap": {"namespaceName": "pin.local", "serviceName": "orders"}},
        },
        "orders-v2": {
            "listeners": [{"portMapping": {"port": 8080, "protocol": "http"},
                           "tls": {"mode": "PERMISSIVE", "certificate": CERT}}],
            "serviceDiscovery": {"awsCloudMap": {"namespaceName": "pin.local", "serviceName": "orders-v2"}},
        },
        "stock": {
            "listeners": [{"portMapping": {"port": 9090, "protocol": "grpc"},
                           "connectionPool": {"grpc": {"maxRequests": 200}},
                           "timeout": {"grpc": {"idle": {"unit": "s", "value": 60}}}},
                          {"portMapping": {"port": 9091, "protocol": "http2"}}],
            "serviceDiscovery": {"dns": {"hostname": "stock.pin.local", "ipPreference": "IPv4_ONLY"}},
        },
        "ledger": {
            "listeners": [{"portMapping": {"port": 5432, "protocol": "tcp"},
                           "timeout": {"tcp": {"idle": {"unit": "s", "value": 600}}}}],
            "serviceDiscovery": {"dns": {"hostname": "ledger.pin.local", "responseType": "ENDPOINTS"}},
        },
        "search": {"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]},
    }


def _routes() -> dict[tuple[str, str], dict[str, Any]]:
    retry = {"maxRetries": 2, "perRetryTimeout": {"unit": MS, "value": 1000},
             "httpRetryEvents": ["server-error", "gateway-error"], "tcpRetryEvents": ["connection-error"]}
    weighted = [{"virtualNode": "orders-v1", "weight": 90}, {"virtualNode": "orders-v2", "weight": 10}]
    return {
        ("orders-router", "beta"): {"priority": 1, "httpRoute": {
            "match": {"prefix": "/", "headers": [{"name": "x-beta", "match": {"exact": "1"}}]},
            "action": {"weightedTargets": [{"virtualNode": "orders-v2", "weight": 1}]}}},
        ("orders-router", "split"): {"priority": 2, "httpRoute": {
            "match": {"prefix": "/orders", "queryParameters": [{"name": "v", "match": {"exact": "2"}}]},
            "action": {"weightedTargets": weighted}, "retryPolicy": retry,
            "timeout": {"perRequest": {"unit": "s", "value": 15}}}},
        ("orders-router", "rest"): {"httpRoute": {"match": {"path": {"exact": "/status"}, "method": "GET"},
                                                  "action": {"weightedTargets": weighted}}},
        ("stock-router", "grpc"): {"grpcRoute": {
            "match": {"serviceName": "stock.Stock", "methodName": "Get",
                      "metadata": [{"name": "tenant", "match": {"prefix": "a"}}]},
            "action": {"weightedTargets": [{"virtualNode": "stock", "weight": 1, "port": 9090}]},
            "retryPolicy": {"maxRetries": 1, "perRetryTimeout": {"unit": MS, "value": 500},
                            "grpcRetryEvents": ["unavailable"]}}},
        ("ledger-router", "tcp"): {"tcpRoute": {"action": {"weightedTargets": [{"virtualNode": "ledger", "weight": 1}]},
                                                "timeout": {"idle": {"unit": "s", "value": 300}}}},
    }


def _gateway() -> tuple[dict[str, Any], dict[tuple[str, str], dict[str, Any]]]:
    spec = {"listeners": [{"portMapping": {"port": 8443, "protocol": "http"},
                           "tls": {"mode": "STRICT", "certificate": CERT},
                           "healthCheck": {"protocol": "http", "path": "/ping", "healthyThreshold": 2,
                                           "unhealthyThreshold": 2, "intervalMillis": 5000, "timeoutMillis": 2000}}],
            "backendDefaults": {"clientPolicy": {"tls": {"validation": TRUST}}},
            "logging": {"accessLog": {"file": {"path": "/dev/stdout"}}}}
    routes = {
        ("edge", "shop"): {"httpRoute": {
            "match": {"prefix": "/shop/", "hostname": {"suffix": "pin.example"}},
            "action": {"target": {"virtualService": {"virtualServiceName": "orders.pin.local"}},
                       "rewrite": {"prefix": {"value": "/orders/"}}}}},
        ("edge", "search"): {"priority": 5, "httpRoute": {
            "match": {"path": {"exact": "/find"}},
            "action": {"target": {"virtualService": {"virtualServiceName": "search.pin.local"}},
                       "rewrite": {"path": {"exact": "/query"}}}}},
    }
    return spec, routes


def state() -> MeshState:
    """The representative App Mesh-only mesh (built only from App Mesh shapes, so older code builds it too)."""
    services = {"orders.pin.local": {"provider": {"virtualRouter": {"virtualRouterName": "orders-router"}}},
                "stock.pin.local": {"provider": {"virtualRouter": {"virtualRouterName": "stock-router"}}},
                "ledger.pin.local": {"provider": {"virtualRouter": {"virtualRouterName": "ledger-router"}}},
                "search.pin.local": {"provider": {"virtualNode": {"virtualNodeName": "search"}}}}
    routers = {"orders-router": [8080, "http"], "stock-router": [9090, "grpc"], "ledger-router": [5432, "tcp"]}
    gateway, gateway_routes = _gateway()
    zones = ("us-west-2a", "us-west-2b")
    endpoints = {node: tuple(Endpoint(instance_id=f"{node}-{i}", address=f"10.0.{n}.{i + 1}", zone=zones[i % 2],
                                      source="cloudmap") for i in range(2))
                 for n, node in enumerate(("orders-v1", "orders-v2", "search"))}
    return MeshState(
        mesh=shapes.MeshData.model_validate({"meshName": MESH, "metadata": _meta(""), "status": {"status": "ACTIVE"},
                                             "spec": {"egressFilter": {"type": "ALLOW_ALL"}}}),
        virtual_nodes={n: _data(shapes.VirtualNodeData, f"virtualNode/{n}", s, virtualNodeName=n)
                       for n, s in _nodes().items()},
        virtual_services={n: _data(shapes.VirtualServiceData, f"virtualService/{n}", s, virtualServiceName=n)
                          for n, s in services.items()},
        virtual_routers={n: _data(shapes.VirtualRouterData, f"virtualRouter/{n}", {"listeners": [
            {"portMapping": {"port": port, "protocol": protocol}}]}, virtualRouterName=n)
            for n, (port, protocol) in routers.items()},
        routes={(r, n): _data(shapes.RouteData, f"virtualRouter/{r}/route/{n}", s, virtualRouterName=r, routeName=n)
                for (r, n), s in _routes().items()},
        virtual_gateways={"edge": _data(shapes.VirtualGatewayData, "virtualGateway/edge", gateway,
                                        virtualGatewayName="edge")},
        gateway_routes={(g, n): _data(shapes.GatewayRouteData, f"virtualGateway/{g}/gatewayRoute/{n}", s,
                                      virtualGatewayName=g, gatewayRouteName=n)
                        for (g, n), s in gateway_routes.items()},
        endpoints=endpoints,
        tags={ResourceKey(Kind.VIRTUAL_NODE, MESH, "search"): {"meshplane.io/lb-policy": "LEAST_REQUEST"},
              ResourceKey(Kind.ROUTE, MESH, "beta", "orders-router"): {"meshplane.io/fault-delay-ms": "100"}},
    )


def digests() -> dict[str, str]:
    """Each proxy's snapshot version (a digest of its deterministic bytes per xDS type)."""
    mesh = state()
    return {proxy.path: translate(mesh, proxy).version for proxy in proxies(mesh)}


def test_an_app_mesh_only_mesh_translates_byte_identically_to_before_policies() -> None:
    mesh = state()
    # a pin over half-rendered proxies would pin little: every route and target resolves
    assert {proxy.path: problems(mesh, proxy) for proxy in proxies(mesh)} == dict.fromkeys(PINNED, ())
    assert digests() == PINNED


if __name__ == "__main__":  # how PINNED was computed: run against the old code, paste the output
    for path, version in sorted(digests().items()):
        print(f'    "{path}": "{version}",')
