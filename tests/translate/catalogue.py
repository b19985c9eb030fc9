"""A catalogue of meshes that together use every App Mesh field the translator gives meaning to.

Each builder takes the directory of a test CA's files (Envoy reads certificate files
at load time, so even `--mode validate` needs real ones) and returns a MeshState.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from meshplane.model import shapes
from meshplane.model.state import MeshState
from support import MeshBuilder, TestCA, listener, target


@dataclass(frozen=True)
class Pki:
    """Paths the TLS fields point at."""

    ca: str
    chain: str
    key: str

    @classmethod
    def issue(cls, ca: TestCA) -> Pki:
        leaf = ca.issue("catalogue", dns=("svc.catalogue.local",))
        return cls(str(ca.cert_path), str(leaf.chain), str(leaf.key))


def _retry(**events: Any) -> dict[str, Any]:
    return {"maxRetries": 3, "perRetryTimeout": {"unit": "ms", "value": 250}, **events}


def _http_route(match: dict[str, Any], *targets: dict[str, Any], priority: int | None = None, **extra: Any):
    spec: dict[str, Any] = {"httpRoute": {"match": match, "action": {"weightedTargets": list(targets)}, **extra}}
    if priority is not None:
        spec["priority"] = priority
    return spec


def routing(pki: Pki) -> MeshState:
    """Every route match, weighted targets with ports, priorities, retries and timeouts, all protocols."""
    multi = (listener(8080), listener(8081, "http2"), listener(8082, "grpc"), listener(8083, "tcp"))
    header = {"name": "x-h"}
    b = (
        MeshBuilder("routing")
        .node("caller", listener(7000), backends=("api.routing.local", "direct.routing.local"))
        .node("v1", *multi)
        .node("v2", *multi)
        .service("api.routing.local", router="api")
        .service("direct.routing.local", node="v2")
        .router("api", 8080, (8081, "http2"), (8082, "grpc"), (8083, "tcp"))
    )
    matches: list[dict[str, Any]] = [
        {"prefix": "/prefix", "port": 8080},
        {"path": {"exact": "/exact"}},
        {"path": {"regex": "/re/[a-z]+"}},
        {"prefix": "/", "headers": [{**header, "match": {"exact": "e"}}, {"name": "x-p", "match": {"prefix": "p"}}]},
        {"prefix": "/", "headers": [{"name": "x-s", "match": {"suffix": "s"}, "invert": True}]},
        {"prefix": "/", "headers": [{"name": "x-r", "match": {"regex": "a.*z"}}, {"name": "x-present"}]},
        {"prefix": "/", "headers": [{"name": "x-n", "match": {"range": {"start": 1, "end": 10}}}]},
        {"prefix": "/", "method": "POST"},
        {"prefix": "/", "queryParameters": [{"name": "q", "match": {"exact": "1"}}, {"name": "flag"}]},
    ]
    for i, match in enumerate(matches):
        b.route("api", f"http-{i}", _http_route(match, target("v1", 80, 8080), target("v2", 20, 8080), priority=i))
    b.route(
        "api",
        "retrying",
        _http_route(
            {"prefix": "/retry"},
            target("v1", 1, 8080),
            retryPolicy=_retry(
                httpRetryEvents=["server-error", "gateway-error", "client-error", "stream-error"],
                tcpRetryEvents=["connection-error"],
            ),
            timeout={"perRequest": {"unit": "s", "value": 3}, "idle": {"unit": "ms", "value": 9000}},
        ),
    )
    b.route("api", "zero-weight", _http_route({"prefix": "/canary"}, target("v1", 100, 8080), target("v2", 0, 8080)))
    b.route(
        "api",
        "h2",
        {
            "http2Route": {
                "match": {"prefix": "/", "scheme": "https", "port": 8081},
                "action": {"weightedTargets": [target("v2", 1, 8081)]},
                "retryPolicy": _retry(httpRetryEvents=["gateway-error"]),
                "timeout": {"perRequest": {"unit": "ms", "value": 500}},
            }
        },
    )
    metadata = [{"name": "tenant", "match": {"exact": "a"}}, {"name": "debug", "invert": True}]
    b.route(
        "api",
        "grpc-method",
        {
            "priority": 1,
            "grpcRoute": {
                "match": {"serviceName": "pkg.Svc", "methodName": "Get", "metadata": metadata, "port": 8082},
                "action": {"weightedTargets": [target("v1", 50, 8082), target("v2", 50, 8082)]},
                "retryPolicy": _retry(
                    grpcRetryEvents=["cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable"],
                    httpRetryEvents=["server-error"],
                ),
                "timeout": {"perRequest": {"unit": "s", "value": 2}, "idle": {"unit": "s", "value": 60}},
            },
        },
    )
    b.route(
        "api",
        "grpc-service",
        {"grpcRoute": {"match": {"serviceName": "pkg.Svc"}, "action": {"weightedTargets": [target("v2", 1, 8082)]}}},
    )
    b.route(
        "api",
        "tcp",
        {
            "tcpRoute": {
                "match": {"port": 8083},
                "action": {"weightedTargets": [target("v1", 3, 8083), target("v2", 1, 8083)]},
                "timeout": {"idle": {"unit": "s", "value": 30}},
            }
        },
    )
    b.endpoint("v1", "10.1.0.1", zone="us-west-2a").endpoint("v1", "10.1.0.2", healthy=False, zone="us-west-2b")
    b.endpoint("v2", "10.2.0.1", port=None)
    return b.build()


def _hc(protocol: str, **extra: Any) -> dict[str, Any]:
    base = {
        "protocol": protocol,
        "intervalMillis": 5000,
        "timeoutMillis": 2000,
        "healthyThreshold": 2,
        "unhealthyThreshold": 3,
    }
    return {**base, **extra}


_OUTLIER = {
    "maxServerErrors": 5,
    "interval": {"unit": "s", "value": 10},
    "baseEjectionDuration": {"unit": "ms", "value": 30000},
    "maxEjectionPercent": 50,
}


def resilience(pki: Pki) -> MeshState:
    """Health checks, outlier detection, connection pools, listener timeouts, logs and discovery."""
    http = listener(
        8080,
        healthCheck=_hc("http", path="/health", port=8081),
        outlierDetection=_OUTLIER,
        connectionPool={"http": {"maxConnections": 10, "maxPendingRequests": 5}},
        timeout={"http": {"perRequest": {"unit": "s", "value": 4}, "idle": {"unit": "s", "value": 40}}},
    )
    h2 = listener(
        8081,
        "http2",
        healthCheck=_hc("http2", path="/h2"),
        connectionPool={"http2": {"maxRequests": 7}},
        timeout={"http2": {"perRequest": {"unit": "ms", "value": 1500}}},
    )
    grpc = listener(
        8082,
        "grpc",
        healthCheck=_hc("grpc"),
        connectionPool={"grpc": {"maxRequests": 9}},
        timeout={"grpc": {"idle": {"unit": "s", "value": 5}}},
    )
    tcp = listener(
        8083,
        "tcp",
        healthCheck=_hc("tcp"),
        connectionPool={"tcp": {"maxConnections": 3}},
        timeout={"tcp": {"idle": {"unit": "s", "value": 7}}},
    )
    text_log = {"accessLog": {"file": {"path": "/dev/stdout", "format": {"text": "%START_TIME% %RESPONSE_CODE%\n"}}}}
    json_log = {
        "accessLog": {
            "file": {"path": "/dev/stdout", "format": {"json": [{"key": "code", "value": "%RESPONSE_CODE%"}]}}
        }
    }
    cloudmap = {
        "awsCloudMap": {
            "namespaceName": "ns.local",
            "serviceName": "store",
            "attributes": [{"key": "stage", "value": "prod"}],
            "ipPreference": "IPv4_ONLY",
        }
    }
    b = (
        MeshBuilder("resilience")
        .node("store", http, h2, grpc, tcp, serviceDiscovery=cloudmap, logging=json_log)
        .node(
            "dns-lb",
            listener(9000),
            serviceDiscovery={
                "dns": {"hostname": "lb.example.com", "responseType": "LOADBALANCER", "ipPreference": "IPv6_PREFERRED"}
            },
        )
        .node(
            "dns-ep",
            listener(9001, healthCheck=_hc("http", path="/ready", port=9100)),
            serviceDiscovery={
                "dns": {"hostname": "ep.example.com", "responseType": "ENDPOINTS", "ipPreference": "IPv6_ONLY"}
            },
        )
        .node("dns-plain", listener(9002), serviceDiscovery={"dns": {"hostname": "plain.example.com"}})
        .node(
            "caller",
            listener(7000),
            backends=("store.local", "lb.local", "ep.local", "plain.local"),
            logging=text_log,
            serviceDiscovery={"dns": {"hostname": "caller.example.com", "ipPreference": "IPv4_PREFERRED"}},
        )
        .node("loner")
        .service("store.local", node="store")
        .service("lb.local", node="dns-lb")
        .service("ep.local", node="dns-ep")
        .service("plain.local", node="dns-plain")
    )
    b.endpoint("store", "10.3.0.1", attributes={"stage": "prod"}, zone="az1")
    b.endpoint("store", "10.3.0.2", attributes={"stage": "dev"}, zone="az1")
    b.endpoint("store", "10.3.0.3", port=None, attributes={"stage": "prod"}, healthy=False, zone="az2")
    state = b.build()
    # The mesh-wide IP preference applies to nodes that do not set their own.
    state.mesh.spec.service_discovery = shapes.MeshServiceDiscovery(ip_preference="IPv4_ONLY")
    return state


def tls(pki: Pki) -> MeshState:
    """Listener TLS in every mode and source, client TLS from defaults and per backend, mTLS, SANs."""
    file_cert = {"file": {"certificateChain": pki.chain, "privateKey": pki.key}}
    sans = {"match": {"exact": ["svc.catalogue.local"]}}
    file_validation = {"trust": {"file": {"certificateChain": pki.ca}}, "subjectAlternativeNames": sans}
    sds_validation = {"trust": {"sds": {"secretName": "spiffe://catalogue"}}}
    b = (
        MeshBuilder("tls")
        .node("strict", listener(8443, tls={"mode": "STRICT", "certificate": file_cert, "validation": file_validation}))
        .node(
            "permissive",
            listener(
                8444,
                tls={
                    "mode": "PERMISSIVE",
                    "certificate": {"sds": {"secretName": "node-cert"}},
                    "validation": sds_validation,
                },
            ),
        )
        .node("disabled", listener(8445, tls={"mode": "DISABLED", "certificate": file_cert}))
        .node(
            "multi",
            listener(8446, tls={"mode": "STRICT", "certificate": file_cert}),
            listener(8447, "tcp", tls={"mode": "PERMISSIVE", "certificate": file_cert}),
        )
        .service("strict.local", node="strict")
        .service("permissive.local", node="permissive")
        .service("disabled.local", node="disabled")
        .service("multi.local", node="multi")
        .node(
            "client",
            listener(7000),
            backendDefaults={
                "clientPolicy": {
                    "tls": {"certificate": file_cert, "validation": file_validation, "ports": [8443, 8446]}
                }
            },
            backends=("strict.local", "disabled.local", "multi.local"),
        )
    )
    b._nodes["client"]["backends"].append(
        {
            "virtualService": {
                "virtualServiceName": "permissive.local",
                "clientPolicy": {
                    "tls": {"certificate": {"sds": {"secretName": "client-cert"}}, "validation": sds_validation}
                },
            }
        }
    )
    b.node(
        "lenient",
        listener(7001),
        backendDefaults={"clientPolicy": {"tls": {"enforce": False, "validation": file_validation}}},
        backends=("strict.local",),
    )
    return b.build()


def gateway(pki: Pki) -> MeshState:
    """A virtual gateway with every gateway-route match and rewrite, TLS, pools, health checks and logs."""
    file_cert = {"file": {"certificateChain": pki.chain, "privateKey": pki.key}}
    gw_spec = {
        "listeners": [
            {
                "portMapping": {"port": 8088, "protocol": "http"},
                "tls": {
                    "mode": "PERMISSIVE",
                    "certificate": file_cert,
                    "validation": {"trust": {"file": {"certificateChain": pki.ca}}},
                },
                "healthCheck": _hc("http", path="/ping"),
                "connectionPool": {"http": {"maxConnections": 50}},
            },
            {
                "portMapping": {"port": 8089, "protocol": "http2"},
                "connectionPool": {"http2": {"maxRequests": 20}},
                "tls": {"mode": "STRICT", "certificate": {"sds": {"secretName": "gw-cert"}}},
            },
            {"portMapping": {"port": 8090, "protocol": "grpc"}, "connectionPool": {"grpc": {"maxRequests": 20}}},
        ],
        "backendDefaults": {
            "clientPolicy": {"tls": {"validation": {"trust": {"file": {"certificateChain": pki.ca}}}, "ports": [9443]}}
        },
        "logging": {"accessLog": {"file": {"path": "/dev/stdout"}}},
    }

    def http_gr(match: dict[str, Any], service: str, kind: str = "httpRoute", port: int | None = None, **action: Any):
        tgt: dict[str, Any] = {"virtualService": {"virtualServiceName": service}}
        if port is not None:
            tgt["port"] = port
        return {kind: {"match": match, "action": {"target": tgt, **action}}}

    b = (
        MeshBuilder("gw")
        .node("web", listener(8080), listener(9443))
        .node("rpc", listener(8082, "grpc"))
        .node("h2", listener(8081, "http2"))
        .service("web.local", router="web-router")
        .router("web-router", 8080, 9443)
        .route("web-router", "r", _http_route({"prefix": "/"}, target("web", 1, 8080)))
        .route("web-router", "secure", _http_route({"prefix": "/", "port": 9443}, target("web", 1, 9443)))
        .service("rpc.local", node="rpc")
        .service("h2.local", node="h2")
        .gateway("ingress", gw_spec)
    )
    b.gateway_route(
        "ingress", "exact-host", http_gr({"prefix": "/shop", "hostname": {"exact": "shop.example.com"}}, "web.local")
    )
    b.gateway_route(
        "ingress",
        "suffix-host",
        http_gr({"prefix": "/", "hostname": {"suffix": ".example.org"}}, "web.local", port=9443),
    )
    b.gateway_route(
        "ingress",
        "rewrite-prefix",
        http_gr(
            {"prefix": "/old/"},
            "web.local",
            rewrite={"prefix": {"value": "/new/"}, "hostname": {"defaultTargetHostname": "DISABLED"}},
        ),
    )
    b.gateway_route(
        "ingress",
        "keep-prefix",
        http_gr({"prefix": "/keep"}, "web.local", rewrite={"prefix": {"defaultPrefix": "DISABLED"}}),
    )
    b.gateway_route(
        "ingress",
        "path",
        {
            "priority": 0,
            **http_gr({"path": {"exact": "/a"}, "method": "GET"}, "web.local", rewrite={"path": {"exact": "/b"}}),
        },
    )
    b.gateway_route(
        "ingress",
        "headers",
        http_gr(
            {
                "prefix": "/h",
                "headers": [{"name": "x-v", "match": {"exact": "2"}}],
                "queryParameters": [{"name": "v", "match": {"exact": "2"}}],
                "port": 8088,
            },
            "web.local",
        ),
    )
    b.gateway_route("ingress", "h2", http_gr({"prefix": "/"}, "h2.local", kind="http2Route"))
    b.gateway_route(
        "ingress",
        "grpc",
        http_gr(
            {
                "serviceName": "pkg.Svc",
                "hostname": {"exact": "rpc.example.com"},
                "metadata": [{"name": "m", "match": {"prefix": "x"}}],
            },
            "rpc.local",
            kind="grpcRoute",
            rewrite={"hostname": {"defaultTargetHostname": "ENABLED"}},
        ),
    )
    b.node("inside", listener(7000), backends=("web.local",))
    return b.build()


def open_mesh(pki: Pki) -> MeshState:
    """ALLOW_ALL: undeclared destinations pass through."""
    return (
        MeshBuilder("open", egress="ALLOW_ALL")
        .node("caller", listener(7000), backends=("known.local",))
        .node("known", listener(8080))
        .service("known.local", node="known")
        .node("no-backends")
        .build()
    )


CATALOGUE: dict[str, Callable[[Pki], MeshState]] = {
    "routing": routing,
    "resilience": resilience,
    "tls": tls,
    "gateway": gateway,
    "open": open_mesh,
}
