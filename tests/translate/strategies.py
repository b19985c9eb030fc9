"""Hypothesis strategies for random VALID meshes (App Mesh's constraints, SDS-only TLS so no files).

Reusable by the traffic and pipeline tests: `meshes()` draws a whole MeshState.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from meshplane.model.state import MeshState
from support import MeshBuilder

PROTOCOLS = ("http", "http2", "grpc", "tcp")
_token = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
_header_name = st.builds(lambda t: f"x-{t}", _token)
_ports = st.integers(1024, 9999)


def _duration(min_value: int = 1) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"unit": st.sampled_from(["s", "ms"]), "value": st.integers(min_value, 120)})


def _header_match() -> st.SearchStrategy[dict[str, Any] | None]:
    ranges = st.tuples(st.integers(0, 100), st.integers(1, 100)).map(lambda t: {"start": t[0], "end": t[0] + t[1]})
    return st.one_of(
        st.none(),
        st.builds(lambda v: {"exact": v}, _token),
        st.builds(lambda v: {"prefix": v}, _token),
        st.builds(lambda v: {"suffix": v}, _token),
        st.builds(lambda v: {"regex": f"{v}.*"}, _token),
        st.builds(lambda r: {"range": r}, ranges),
    )


@st.composite
def _header(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {"name": draw(_header_name)}
    match = draw(_header_match())
    if match is not None:
        out["match"] = match
    if draw(st.booleans()):
        out["invert"] = draw(st.booleans())
    return out


def _maybe(draw: st.DrawFn, out: dict[str, Any], key: str, strategy: st.SearchStrategy[Any]) -> None:
    if draw(st.booleans()):
        out[key] = draw(strategy)


@st.composite
def _http_match(draw: st.DrawFn, protocol: str) -> dict[str, Any]:
    kind = draw(st.sampled_from(["prefix", "exact", "regex"]))
    match: dict[str, Any]
    if kind == "prefix":
        match = {"prefix": draw(st.sampled_from(["/", "/a", "/api/", "/v2"]))}
    elif kind == "exact":
        match = {"path": {"exact": "/" + draw(_token)}}
    else:
        match = {"path": {"regex": "/" + draw(_token) + "/[0-9]+"}}
    _maybe(draw, match, "headers", st.lists(_header(), min_size=1, max_size=3))
    _maybe(draw, match, "method", st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]))
    query = st.builds(
        lambda n, v: {"name": n, **({"match": {"exact": v}} if v else {})}, _token, st.one_of(st.none(), _token)
    )
    _maybe(draw, match, "queryParameters", st.lists(query, min_size=1, max_size=2))
    if protocol == "http2":
        _maybe(draw, match, "scheme", st.sampled_from(["http", "https"]))
    return match


@st.composite
def _retry(draw: st.DrawFn, protocol: str) -> dict[str, Any]:
    out: dict[str, Any] = {"maxRetries": draw(st.integers(0, 5)), "perRetryTimeout": draw(_duration())}
    events = ["server-error", "gateway-error", "client-error", "stream-error"]
    _maybe(draw, out, "httpRetryEvents", st.lists(st.sampled_from(events), min_size=1, max_size=4, unique=True))
    _maybe(draw, out, "tcpRetryEvents", st.just(["connection-error"]))
    if protocol == "grpc":
        grpc = ["cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable"]
        _maybe(draw, out, "grpcRetryEvents", st.lists(st.sampled_from(grpc), min_size=1, max_size=5, unique=True))
    return out


@st.composite
def _route(draw: st.DrawFn, protocol: str, port: int, targets: list[tuple[str, int]]) -> dict[str, Any]:
    chosen = draw(st.lists(st.sampled_from(targets), min_size=1, max_size=3, unique=True))
    weighted = [{"virtualNode": n, "port": p, "weight": draw(st.integers(1, 100))} for n, p in chosen]
    body: dict[str, Any] = {"action": {"weightedTargets": weighted}}
    if protocol == "tcp":
        body["match"] = {"port": port}
        _maybe(draw, body, "timeout", st.builds(lambda d: {"idle": d}, _duration(0)))
    else:
        if protocol == "grpc":
            match: dict[str, Any] = {}
            if draw(st.booleans()):
                match["serviceName"] = "pkg." + draw(_token)
                _maybe(draw, match, "methodName", _token)
            _maybe(draw, match, "metadata", st.lists(_header(), min_size=1, max_size=2))
            body["match"] = {**match, "port": port}
        else:
            body["match"] = {**draw(_http_match(protocol)), "port": port}
        _maybe(draw, body, "retryPolicy", _retry(protocol))
        timeout = st.fixed_dictionaries({}, optional={"perRequest": _duration(0), "idle": _duration(0)})
        _maybe(draw, body, "timeout", timeout)
    spec: dict[str, Any] = {f"{protocol}Route" if protocol != "http2" else "http2Route": body}
    _maybe(draw, spec, "priority", st.integers(0, 1000))
    return spec


def _sds_tls(mode: str, validate: bool) -> dict[str, Any]:
    tls: dict[str, Any] = {"mode": mode, "certificate": {"sds": {"secretName": "cert"}}}
    if validate:
        tls["validation"] = {
            "trust": {"sds": {"secretName": "ca"}},
            "subjectAlternativeNames": {"match": {"exact": ["a.local"]}},
        }
    return tls


@st.composite
def _listener(draw: st.DrawFn, port: int, *, gateway: bool = False) -> dict[str, Any]:
    protocol = draw(st.sampled_from(PROTOCOLS[:3] if gateway else PROTOCOLS))
    out: dict[str, Any] = {"portMapping": {"port": port, "protocol": protocol}}
    if draw(st.booleans()):
        hc_protocol = draw(st.sampled_from(PROTOCOLS[:3] if gateway else PROTOCOLS))
        out["healthCheck"] = {
            "protocol": hc_protocol,
            "intervalMillis": draw(st.integers(5000, 300000)),
            "timeoutMillis": draw(st.integers(2000, 60000)),
            "healthyThreshold": draw(st.integers(2, 10)),
            "unhealthyThreshold": draw(st.integers(2, 10)),
            **({"path": "/health"} if hc_protocol in ("http", "http2") else {}),
        }
    if draw(st.booleans()):
        pools = {
            "http": {
                "http": {"maxConnections": draw(st.integers(1, 1000)), "maxPendingRequests": draw(st.integers(1, 1000))}
            },
            "http2": {"http2": {"maxRequests": draw(st.integers(1, 1000))}},
            "grpc": {"grpc": {"maxRequests": draw(st.integers(1, 1000))}},
            "tcp": {"tcp": {"maxConnections": draw(st.integers(1, 1000))}},
        }
        out["connectionPool"] = pools[protocol]
    if draw(st.booleans()):
        out["tls"] = _sds_tls(draw(st.sampled_from(["STRICT", "PERMISSIVE", "DISABLED"])), draw(st.booleans()))
    if gateway:
        return out
    if draw(st.booleans()):
        out["outlierDetection"] = {
            "maxServerErrors": draw(st.integers(1, 100)),
            "interval": draw(_duration(0)),
            "baseEjectionDuration": draw(_duration(0)),
            "maxEjectionPercent": draw(st.integers(0, 100)),
        }
    if draw(st.booleans()):
        idle = {"idle": draw(_duration(0))}
        out["timeout"] = {protocol: idle if protocol == "tcp" else {**idle, "perRequest": draw(_duration(0))}}
    return out


def _discovery() -> st.SearchStrategy[dict[str, Any] | None]:
    pref = st.sampled_from(["IPv6_PREFERRED", "IPv4_PREFERRED", "IPv4_ONLY", "IPv6_ONLY"])
    dns = st.builds(
        lambda h, r, p: {"dns": {"hostname": f"{h}.example.com", "responseType": r, "ipPreference": p}},
        _token,
        st.sampled_from(["LOADBALANCER", "ENDPOINTS"]),
        pref,
    )
    cloudmap = st.builds(
        lambda s, a: {"awsCloudMap": {"namespaceName": "ns.local", "serviceName": s, **a}},
        _token,
        st.sampled_from([{}, {"attributes": [{"key": "stage", "value": "prod"}]}]),
    )
    return st.one_of(st.none(), dns, cloudmap)


@st.composite
def meshes(draw: st.DrawFn, max_nodes: int = 5) -> MeshState:
    """A random mesh App Mesh would accept: nodes, services, routers, routes, a gateway, endpoints."""
    builder = MeshBuilder("hyp", egress=draw(st.sampled_from(["DROP_ALL", "ALLOW_ALL"])))
    node_listeners: dict[str, list[dict[str, Any]]] = {}
    for i in range(draw(st.integers(1, max_nodes))):
        ports = draw(st.lists(_ports, max_size=3, unique=True))
        node_listeners[f"n{i}"] = [draw(_listener(p)) for p in ports]
    pairs = [
        (n, li["portMapping"]["port"], li["portMapping"]["protocol"]) for n, ls in node_listeners.items() for li in ls
    ]
    services = [f"n{i}.hyp.local" for i, n in enumerate(node_listeners) if node_listeners[n]]
    for i, n in enumerate(node_listeners):
        if node_listeners[n]:
            builder.service(f"n{i}.hyp.local", node=n)
    for r in range(draw(st.integers(0, 2)) if pairs else 0):
        protocols = draw(st.lists(st.sampled_from(PROTOCOLS), min_size=1, max_size=2, unique=True))
        ports = draw(st.lists(_ports, min_size=len(protocols), max_size=len(protocols), unique=True))
        builder.router(f"r{r}", *zip(ports, protocols, strict=True))
        for port, protocol in zip(ports, protocols, strict=True):
            same = [(n, p) for n, p, proto in pairs if proto == protocol] or [(n, p) for n, p, _ in pairs]
            for k in range(draw(st.integers(0, 3))):
                builder.route(f"r{r}", f"r{r}-{port}-{k}", draw(_route(protocol, port, same)))
        builder.service(f"r{r}.hyp.local", router=f"r{r}")
        services.append(f"r{r}.hyp.local")
    for n, listeners in node_listeners.items():
        spec: dict[str, Any] = {}
        if draw(st.booleans()) and services:
            chosen = draw(st.lists(st.sampled_from(services), min_size=1, max_size=4, unique=True))
            spec["backends"] = tuple(chosen)
            if draw(st.booleans()):
                spec["backendDefaults"] = {
                    "clientPolicy": {"tls": {"validation": {"trust": {"sds": {"secretName": "ca"}}}}}
                }
        discovery = draw(_discovery())
        if discovery is not None:
            spec["serviceDiscovery"] = discovery
        if draw(st.booleans()):
            fmt = draw(
                st.sampled_from(
                    [
                        {},
                        {"format": {"text": "%RESPONSE_CODE%\n"}},
                        {"format": {"json": [{"key": "c", "value": "%RESPONSE_CODE%"}]}},
                    ]
                )
            )
            spec["logging"] = {"accessLog": {"file": {"path": "/dev/stdout", **fmt}}}
        builder.node(n, *listeners, **spec)
        for e in range(draw(st.integers(0, 2))):
            builder.endpoint(
                n,
                f"10.9.{len(n)}.{e + 1}",
                port=draw(st.one_of(st.none(), st.just(15000))),
                healthy=draw(st.booleans()),
            )
    if services and draw(st.booleans()):
        ports = draw(st.lists(_ports, min_size=1, max_size=2, unique=True))
        builder.gateway("gw", {"listeners": [draw(_listener(p, gateway=True)) for p in ports]})
        for g in range(draw(st.integers(0, 3))):
            kind = draw(st.sampled_from(["httpRoute", "http2Route", "grpcRoute"]))
            match: dict[str, Any] = (
                {"serviceName": "pkg.S"}
                if kind == "grpcRoute"
                else {"prefix": draw(st.sampled_from(["/", "/g", "/g/"]))}
            )
            host = draw(st.sampled_from([None, {"exact": "www.example.com"}, {"suffix": ".example.com"}]))
            if host is not None:
                match["hostname"] = host
            target = {"virtualService": {"virtualServiceName": draw(st.sampled_from(services))}}
            action: dict[str, Any] = {"target": target}
            rewrite: dict[str, Any] = {}
            _maybe(
                draw,
                rewrite,
                "hostname",
                st.builds(lambda v: {"defaultTargetHostname": v}, st.sampled_from(["ENABLED", "DISABLED"])),
            )
            if kind != "grpcRoute":
                prefix = st.sampled_from([{"defaultPrefix": "DISABLED"}, {"value": "/new/"}])
                _maybe(draw, rewrite, "prefix", prefix)
            if rewrite:
                action["rewrite"] = rewrite
            spec = {kind: {"match": match, "action": action}}
            _maybe(draw, spec, "priority", st.integers(0, 1000))
            builder.gateway_route("gw", f"g{g}", spec)
    return builder.build()
