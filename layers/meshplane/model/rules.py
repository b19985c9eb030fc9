"""App Mesh rules the botocore model cannot express, checked on a spec alone.

The generated shapes enforce types, ranges, enums and one-of unions.  These
checks add the cross-field rules App Mesh applied on create and update.  Rules
that need other resources (weighted-target ports, references) live in the API
operations, which can read the store.  Each violation names the field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from meshplane.model import names, shapes
from meshplane.model.base import AppMeshModel

RESERVED_PREFIXES = ("/aws-appmesh", "/aws-app-mesh")
# Envoy holds every duration as a google.protobuf.Duration, whose range is +-315,576,000,000 s (10,000 years)
DURATION_MAX_SECONDS = 315_576_000_000
UINT32_MAX = 2**32 - 1
# `long` members (64 bit in the model) that Envoy holds as a uint32: num_retries, consecutive_5xx
UINT32_IN_ENVOY = frozenset({"max_retries", "max_server_errors"})


class RuleViolation(ValueError):
    """A spec that App Mesh would refuse; the message names the offending field."""


def check_name(field: str, name: str) -> None:
    """The name rule of `model.names` (the generated shapes apply it to every name field too)."""
    reason = names.problem(name)
    if reason is not None:
        raise RuleViolation(f"{field}: {reason}")


def check_spec(spec: Any) -> None:
    """Raise RuleViolation for the first rule `spec` breaks; specs without rules pass."""
    for violation in _violations(spec):
        raise RuleViolation(violation)


def _violations(spec: Any) -> Iterator[str]:
    checker = _CHECKERS.get(type(spec).__name__)
    if checker is not None:
        yield from checker(spec)
    yield from _envoy_ranges("spec", spec)


# --- numbers Envoy holds in narrower types than the model -----------------------------------


def _envoy_ranges(field: str, value: Any) -> Iterator[str]:
    """A value the model allows but Envoy cannot hold would stop every snapshot of the mesh, so it is refused."""
    if isinstance(value, shapes.Duration) and value.value is not None:
        seconds = value.value // 1000 if value.unit == "ms" else value.value
        if seconds > DURATION_MAX_SECONDS:
            yield f"{field}.value: at most {DURATION_MAX_SECONDS} seconds (Envoy's duration range)"
    if isinstance(value, AppMeshModel):
        for attr, info in type(value).model_fields.items():
            child = getattr(value, attr)
            if child is None:
                continue
            here = f"{field}.{info.alias or attr}"
            if attr in UINT32_IN_ENVOY and isinstance(child, int) and child > UINT32_MAX:
                yield f"{here}: at most {UINT32_MAX}"
            yield from _envoy_ranges(here, child)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _envoy_ranges(f"{field}[{i}]", item)


# --- routes -----------------------------------------------------------------------------


def _route_spec(spec: shapes.RouteSpec) -> Iterator[str]:
    kind = _route_kind(spec, ("http_route", "http2_route", "grpc_route", "tcp_route"))
    if isinstance(kind, str):
        yield kind
        return
    attr, field = kind
    route = getattr(spec, attr)
    yield from _weights(f"{field}.action.weightedTargets", route.action.weighted_targets)
    if attr in ("http_route", "http2_route"):
        yield from _http_match(f"{field}.match", route.match, http2=attr == "http2_route")
        if route.retry_policy is not None:
            yield from _retry_events(f"{field}.retryPolicy", route.retry_policy)
    elif attr == "grpc_route":
        if route.match.method_name is not None and route.match.service_name is None:
            yield f"{field}.match.methodName: requires serviceName"
        yield from _header_matches(f"{field}.match.metadata", route.match.metadata)
        if route.retry_policy is not None:
            yield from _retry_events(f"{field}.retryPolicy", route.retry_policy)


def _weights(field: str, targets: Iterable[shapes.WeightedTarget]) -> Iterator[str]:
    targets = list(targets)
    if sum(t.weight for t in targets) <= 0:
        yield f"{field}: the weights must add up to more than 0"
    seen: set[tuple[str, int | None]] = set()
    for target in targets:
        ident = (target.virtual_node, target.port)
        if ident in seen:
            yield f"{field}: virtual node {target.virtual_node!r} is listed twice"
        seen.add(ident)


def _http_match(field: str, match: Any, *, http2: bool) -> Iterator[str]:
    yield from _path_match(field, match, required=True)
    if getattr(match, "scheme", None) is not None and not http2:
        yield f"{field}.scheme: only allowed on http2Route"
    yield from _header_matches(f"{field}.headers", match.headers)


def _path_match(field: str, match: Any, *, required: bool) -> Iterator[str]:
    if match.prefix is not None and match.path is not None:
        yield f"{field}: set prefix or path, not both"
    if required and match.prefix is None and match.path is None:
        yield f"{field}: one of prefix or path is required"
    if match.prefix is not None:
        yield from _path_value(f"{field}.prefix", match.prefix)
    if match.path is not None:
        members = _set_members(match.path, ("exact", "regex"))
        if len(members) != 1:
            yield f"{field}.path: exactly one of exact or regex must be set"
        if match.path.exact is not None:
            yield from _path_value(f"{field}.path.exact", match.path.exact)


def _path_value(field: str, value: str) -> Iterator[str]:
    if not value.startswith("/"):
        yield f"{field}: must start with '/'"
    if value.lower().startswith(RESERVED_PREFIXES):
        yield f"{field}: the prefixes /aws-appmesh and /aws-app-mesh are reserved"


def _header_matches(field: str, headers: Iterable[Any] | None) -> Iterator[str]:
    for i, header in enumerate(headers or ()):
        match = header.match
        if match is not None and match.range is not None and match.range.start >= match.range.end:
            yield f"{field}[{i}].match.range: start must be less than end"


def _retry_events(field: str, policy: Any) -> Iterator[str]:
    events = ("http_retry_events", "tcp_retry_events", "grpc_retry_events")
    if not _set_members(policy, tuple(e for e in events if e in type(policy).model_fields)):
        yield f"{field}: at least one kind of retry event is required"
    known = {"server-error", "gateway-error", "client-error", "stream-error"}
    for event in policy.http_retry_events or ():
        if event not in known:
            yield f"{field}.httpRetryEvents: unknown event {event!r} (one of {sorted(known)})"


# --- virtual nodes, routers and gateways --------------------------------------------------


def _virtual_node_spec(spec: shapes.VirtualNodeSpec) -> Iterator[str]:
    yield from _listeners("spec.listeners", spec.listeners, timeouts=True)
    names = [b.virtual_service.virtual_service_name for b in spec.backends or () if b.virtual_service]
    if len(names) != len(set(names)):
        yield "spec.backends: a virtual service is listed twice"
    discovery = spec.service_discovery
    if discovery is not None and discovery.dns is not None and not discovery.dns.hostname.strip():
        yield "spec.serviceDiscovery.dns.hostname: must not be blank"


def _virtual_gateway_spec(spec: shapes.VirtualGatewaySpec) -> Iterator[str]:
    if not spec.listeners:
        yield "spec.listeners: a virtual gateway needs at least one listener"
    yield from _listeners("spec.listeners", spec.listeners, timeouts=False)


def _virtual_router_spec(spec: shapes.VirtualRouterSpec) -> Iterator[str]:
    yield from _unique_ports("spec.listeners", spec.listeners)


def _listeners(field: str, listeners: list[Any] | None, *, timeouts: bool) -> Iterator[str]:
    yield from _unique_ports(field, listeners)
    for i, listener in enumerate(listeners or ()):
        protocol = listener.port_mapping.protocol
        here = f"{field}[{i}]"
        if listener.connection_pool is not None:
            kind, _ = listener.connection_pool.member
            if kind != protocol:
                yield f"{here}.connectionPool: {kind} does not match the listener protocol {protocol}"
        if timeouts and listener.timeout is not None:
            kind, _ = listener.timeout.member
            if kind != protocol:
                yield f"{here}.timeout: {kind} does not match the listener protocol {protocol}"
        check = listener.health_check
        if check is not None and check.protocol in ("http", "http2") and not check.path:
            yield f"{here}.healthCheck.path: required for protocol {check.protocol}"


def _unique_ports(field: str, listeners: list[Any] | None) -> Iterator[str]:
    ports = [listener.port_mapping.port for listener in listeners or ()]
    if len(ports) != len(set(ports)):
        yield f"{field}: two listeners use the same port"


# --- gateway routes -----------------------------------------------------------------------


def _gateway_route_spec(spec: shapes.GatewayRouteSpec) -> Iterator[str]:
    kind = _route_kind(spec, ("http_route", "http2_route", "grpc_route"))
    if isinstance(kind, str):
        yield kind
        return
    attr, field = kind
    route = getattr(spec, attr)
    yield from _hostname(f"{field}.match.hostname", route.match.hostname)
    if attr == "grpc_route":
        yield from _header_matches(f"{field}.match.metadata", route.match.metadata)
        return
    match = route.match
    if match.prefix is None and match.path is None and match.hostname is None:
        yield f"{field}.match: one of prefix, path or hostname is required"
    yield from _path_match(f"{field}.match", match, required=False)
    yield from _header_matches(f"{field}.match.headers", match.headers)
    yield from _rewrite(f"{field}.action.rewrite", route.action.rewrite, match)


def _hostname(field: str, hostname: shapes.GatewayRouteHostnameMatch | None) -> Iterator[str]:
    if hostname is None:
        return
    if (hostname.exact is None) == (hostname.suffix is None):
        yield f"{field}: exactly one of exact or suffix must be set"
    if hostname.exact is not None and "*" in hostname.exact:
        yield f"{field}.exact: wildcards are not allowed, use suffix"
    if hostname.suffix is not None and "*" in hostname.suffix:
        yield f"{field}.suffix: give the suffix without '*'"


def _rewrite(field: str, rewrite: shapes.HttpGatewayRouteRewrite | None, match: Any) -> Iterator[str]:
    if rewrite is None:
        return
    if rewrite.prefix is not None:
        prefix = rewrite.prefix
        if (prefix.default_prefix is None) == (prefix.value is None):
            yield f"{field}.prefix: exactly one of defaultPrefix or value must be set"
        if prefix.value is not None and not (prefix.value.startswith("/") and prefix.value.endswith("/")):
            yield f"{field}.prefix.value: must start and end with '/'"
        if match.prefix is None:
            yield f"{field}.prefix: only allowed when the match is on a prefix"
    if rewrite.path is not None:
        if rewrite.path.exact is not None:
            yield from _path_value(f"{field}.path.exact", rewrite.path.exact)
        if match.path is None:
            yield f"{field}.path: only allowed when the match is on a path"


# --- helpers ------------------------------------------------------------------------------


def _set_members(model: Any, attrs: tuple[str, ...]) -> list[str]:
    return [a for a in attrs if getattr(model, a) is not None]


def _alias(model_cls: type[shapes.AppMeshModel], attr: str) -> str:
    return model_cls.model_fields[attr].alias or attr


def _route_kind(spec: shapes.AppMeshModel, attrs: tuple[str, ...]) -> tuple[str, str] | str:
    """`(attr, "spec.<alias>")` of the one route kind set on `spec`, else the App Mesh-style error."""
    kinds = _set_members(spec, attrs)
    if len(kinds) != 1:
        *first, last = (_alias(type(spec), a) for a in attrs)
        return f"spec: exactly one of {', '.join(first)} or {last} must be set, got {len(kinds)}"
    (attr,) = kinds
    return attr, f"spec.{_alias(type(spec), attr)}"


# By class name, so importing the rules loads no shape module: a write checks its own kind's spec only.
_CHECKERS: dict[str, Callable[[Any], Iterator[str]]] = {
    "RouteSpec": _route_spec,
    "VirtualNodeSpec": _virtual_node_spec,
    "VirtualRouterSpec": _virtual_router_spec,
    "VirtualGatewaySpec": _virtual_gateway_spec,
    "GatewayRouteSpec": _gateway_route_spec,
}
