"""RDS: ingress route configs to the local app, egress configs per port, gateway configs."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping

from envoy.config.core.v3 import base_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3.route_pb2 import RouteConfiguration
from google.protobuf import duration_pb2
from google.protobuf.message import Message

from meshplane.graph import names
from meshplane.graph.view import HTTP_FAMILY, GatewayRouteView, IngressListener, ProxyView, RouteView, ServicePort
from meshplane.model import shapes
from meshplane.snapshot.snapshot import PackedResources
from meshplane.snapshot.types import XdsType
from meshplane.translate import extensions, matches, route_wire
from meshplane.translate.cache import RenderCache
from meshplane.translate.core import EGRESS_DIRECT_PORT, duration, seconds, typed
from meshplane.translate.policy import headers as policy_headers
from meshplane.translate.policy import mirror as policy_mirror
from meshplane.translate.policy import rate_limit as policy_rate_limit
from meshplane.translate.retry import retry_policy
from meshplane.translate.route_wire import HostWire, RouteTemplate

DEFAULT_PER_REQUEST_S = 15.0
TARGET_HEADER = "x-meshplane-gateway-target"


@functools.cache
def _default_timeout() -> duration_pb2.Duration:
    return seconds(DEFAULT_PER_REQUEST_S)


def _action(route: RouteView) -> rc.RouteAction:
    action = rc.RouteAction()
    live = [t for t in route.targets if t.weight > 0]
    if len(live) == 1:
        action.cluster = live[0].cluster
    else:
        for target in live:
            action.weighted_clusters.clusters.add(name=target.cluster).weight.value = target.weight
    spec = route.spec
    timeout = getattr(spec, "timeout", None)
    per_request = timeout.per_request if timeout is not None else None
    action.timeout.CopyFrom(duration(per_request) if per_request is not None else _default_timeout())
    if timeout is not None and timeout.idle is not None:
        action.idle_timeout.CopyFrom(duration(timeout.idle))
    action.retry_policy.CopyFrom(retry_policy(getattr(spec, "retry_policy", None)))
    action.hash_policy.extend(extensions.hash_policies(route.hash_headers))
    policy_mirror.apply(action, route)
    return action


def _is_catch_all(route: RouteView) -> bool:
    """A provider node's implicit route: one target, nothing of App Mesh's route spec."""
    return route.spec is None and route.fault is None and not route.hash_headers and len(route.targets) == 1


def _route(route: RouteView) -> rc.Route:
    if _is_catch_all(route):
        return _catch_all(route.name, route.protocol == "grpc", route.targets[0].cluster)
    spec = route.spec  # the build pairs a grpc listener with grpc routes, http and http2 with http routes
    if route.protocol == "grpc":
        match = matches.grpc_match(spec.match if isinstance(spec, shapes.GrpcRoute) else None)
    else:
        match = matches.http_match(spec.match if isinstance(spec, shapes.HttpRoute) else None)
    built = rc.Route(name=route.name, match=match, route=_action(route))
    if route.fault is not None:
        built.typed_per_filter_config[extensions.FAULT_FILTER].CopyFrom(typed(extensions.route_fault(route.fault)))
    policy_headers.apply(built, route.policies.headers)
    return built


@functools.cache
def _catch_all_template(name: str, grpc: bool) -> rc.Route:
    """The provider node's implicit route, built once; `_catch_all` copies it and sets the cluster."""
    match = matches.grpc_match(None) if grpc else matches.http_match(None)
    action = rc.RouteAction(timeout=_default_timeout(), retry_policy=retry_policy(None))
    return rc.Route(name=name, match=match, route=action)


def _catch_all(name: str, grpc: bool, cluster: str) -> rc.Route:
    built = rc.Route()
    built.CopyFrom(_catch_all_template(name, grpc))
    built.route.cluster = cluster
    return built


def _passthrough(view: ProxyView) -> rc.VirtualHost:
    """ALLOW_ALL: anything undeclared goes where the app sent it."""
    route = rc.Route(
        match=rc.RouteMatch(prefix="/"), route=rc.RouteAction(cluster=names.passthrough_cluster(view.proxy.mesh))
    )
    return rc.VirtualHost(name="allow_all", domains=["*"], routes=[route])


def serves_direct(view: ProxyView) -> bool:
    """The direct config is in use unless a TCP backend holds the egress listener's own port."""
    return all(s.port != EGRESS_DIRECT_PORT for s in view.tcp_chains)


def group_protocol(services: Iterable[ServicePort]) -> str:
    protocols = {s.protocol for s in services}
    return protocols.pop() if len(protocols) == 1 else "http"


@functools.cache
def _catch_all_wire(name: str, grpc: bool) -> RouteTemplate:
    return RouteTemplate.of(_catch_all_template(name, grpc))


def _route_bytes(route: RouteView) -> bytes:
    if _is_catch_all(route):
        return _catch_all_wire(route.name, route.protocol == "grpc").to(route.targets[0].cluster)
    built: bytes = _route(route).SerializeToString(deterministic=True)
    return built


def _host_wire(service: ServicePort) -> HostWire:
    return HostWire.of(service.service, service.port, map(_route_bytes, service.routes))


def _hosts(groups: Mapping[int, tuple[ServicePort, ...]], cache: RenderCache | None) -> dict[int, list[HostWire]]:
    """Each service's serialised virtual host, to be written into every config naming it, by port in
    the order of `groups`.

    A service port resolves the same for every caller of one state, so `cache` shares its host."""
    if cache is None:
        return {port: [_host_wire(s) for s in ss] for port, ss in groups.items()}
    return {port: [cache.value(("vhost", s.service, s.port, s.protocol), _host_wire, s) for s in ss]
            for port, ss in groups.items()}


def _config(name: str, hosts: list[bytes], view: ProxyView) -> bytes:
    if view.allow_all:
        hosts.append(route_wire.host_field(_passthrough(view)))
    return route_wire.config(name, hosts)


def _egress(view: ProxyView, cache: RenderCache | None) -> dict[str, bytes]:
    """The egress route configs, each as its deterministic serialisation."""
    out: dict[str, bytes] = {}
    groups = view.http_groups
    hosts = _hosts(groups, cache)
    for port, services in groups.items():
        name = names.egress_routes(group_protocol(services), port)
        out[name] = _config(name, [host.in_port_config() for host in hosts[port]], view)
    if not serves_direct(view):
        return out
    # The direct config serves apps that call the egress listener without iptables:
    # `name:port` for every port, and the bare `name` for the service's first port.
    direct = names.egress_routes("http", EGRESS_DIRECT_PORT)
    bare: set[str] = set()
    written = []
    for port in sorted(groups):
        for s, host in zip(groups[port], hosts[port], strict=True):
            written.append(host.in_direct_config(bare=s.service not in bare))
            bare.add(s.service)
    out[direct] = _config(direct, written, view)
    return out


def _ingress(listener: IngressListener, *, to_cluster: bool = True) -> RouteConfiguration:
    """All traffic for a listener goes to the local app, with the listener's timeouts (without
    `to_cluster`, the action names no cluster: a template)."""
    action = rc.RouteAction(cluster=listener.cluster) if to_cluster else rc.RouteAction()
    timeout = listener.timeout.member[1] if listener.timeout is not None else None
    per_request = getattr(timeout, "per_request", None)
    action.timeout.CopyFrom(duration(per_request) if per_request is not None else _default_timeout())
    if timeout is not None and timeout.idle is not None:
        action.idle_timeout.CopyFrom(duration(timeout.idle))
    match = rc.RouteMatch(prefix="/")
    name = names.ingress_routes(listener.protocol, listener.port)
    vhost = rc.VirtualHost(name=name, domains=["*"], routes=[rc.Route(match=match, route=action)])
    return RouteConfiguration(name=name, virtual_hosts=[vhost])


def _ingress_bytes(listener: IngressListener, cache: RenderCache) -> bytes:
    """`_ingress(listener)`'s deterministic bytes: the config is alike for every sidecar listener of one
    protocol, port and timeout but for its cluster, so it is built once per state (without a cluster)
    and each sidecar's cluster is joined in (`route_wire.CatchAllTemplate`)."""
    key = ("ingress-routes", listener.protocol, listener.port, cache.keys.of(listener.timeout))
    template = cache.value(key, lambda: route_wire.CatchAllTemplate.of(_ingress(listener, to_cluster=False)))
    return template.to(listener.cluster)


def _gateway_route(route: GatewayRouteView, listener: IngressListener) -> rc.Route:
    """Match, rewrite as App Mesh does, and send back into this listener (the self-redirect cluster).

    The loop-back hop is steered to the target service and port by a header, so it works whether
    or not the host is rewritten and whatever port the client put in its Host.
    """
    spec = route.spec
    if isinstance(spec, shapes.GrpcGatewayRoute):
        match = matches.grpc_match(spec.match)
    else:
        match = matches.http_match(spec.match)
    out = rc.Route(name=route.name, match=match)
    header = out.request_headers_to_add.add(append_action=base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD)
    header.header.key, header.header.value = TARGET_HEADER, f"{route.service}:{route.service_port}"
    action = out.route
    action.cluster = listener.cluster
    action.timeout.CopyFrom(_default_timeout())
    if not keeps_host(route):
        action.host_rewrite_literal = route.service
    rewrite = spec.action.rewrite
    path_rewrite = getattr(rewrite, "path", None)
    prefix_rewrite = getattr(rewrite, "prefix", None)
    if path_rewrite is not None and path_rewrite.exact is not None:
        action.regex_rewrite.pattern.regex = "^.*$"
        action.regex_rewrite.substitution = path_rewrite.exact
    elif prefix_rewrite is not None and prefix_rewrite.value is not None:
        action.prefix_rewrite = prefix_rewrite.value
    elif (
        match.HasField("prefix")
        and route.protocol != "grpc"
        and (prefix_rewrite is None or prefix_rewrite.default_prefix != "DISABLED")
    ):
        action.prefix_rewrite = "/"
    return out


def keeps_host(route: GatewayRouteView) -> bool:
    host = getattr(route.spec.action.rewrite, "hostname", None)
    return host is not None and host.default_target_hostname == "DISABLED"


def _steered(service: ServicePort) -> list[rc.Route]:
    """A target service's own routes, taken only on the loop-back hop (the steering header is set)."""
    out = []
    for route in service.routes:
        built = _route(route)
        built.match.headers.add(name=TARGET_HEADER).string_match.exact = f"{service.service}:{service.port}"
        built.request_headers_to_remove.append(TARGET_HEADER)
        out.append(built)
    return out


def _on_listener(route: GatewayRouteView, listener: IngressListener) -> bool:
    port = getattr(route.spec.match, "port", None)
    return route.protocol == listener.protocol and (port is None or port == listener.port)


def _hostname_domains(route: GatewayRouteView) -> list[str]:
    """The gateway HCM strips any port from Host, so a hostname match ignores the port as App Mesh did."""
    hostname = getattr(route.spec.match, "hostname", None)
    if hostname is None:
        return ["*"]
    return [hostname.exact] if hostname.exact is not None else [f"*{hostname.suffix}"]


def _gateway(view: ProxyView, listener: IngressListener) -> RouteConfiguration:
    """One virtual host per hostname match; each starts with the steered service routes of the loop-back hop."""
    mine = [r for r in view.gateway_routes if _on_listener(r, listener)]
    by_port = {(s.service, s.port): s for s in view.services if s.protocol in HTTP_FAMILY}
    targets = sorted({(r.service, r.service_port) for r in mine} & by_port.keys())
    steered = [route for key in targets for route in _steered(by_port[key])]
    vhosts: dict[str, rc.VirtualHost] = {}
    for route in mine:
        domains = _hostname_domains(route)
        key = "gateway:" + ",".join(domains)
        if key not in vhosts:
            vhosts[key] = rc.VirtualHost(name=key, domains=domains, routes=steered)
        built = _gateway_route(route, listener)
        policy_headers.apply(built, route.policies.headers)
        policy_rate_limit.exempt(built, view.policies.rate_limit)
        vhosts[key].routes.append(built)
    if steered and "gateway:*" not in vhosts:  # a rewritten host must still find the steered routes
        vhosts["gateway:*"] = rc.VirtualHost(name="gateway:*", domains=["*"], routes=steered)
    name = names.ingress_routes(listener.protocol, listener.port)
    return RouteConfiguration(name=name, virtual_hosts=list(vhosts.values()))


def _own_policies(config: RouteConfiguration, view: ProxyView) -> RouteConfiguration:
    """The proxy's own sections, for every request one of its listeners serves."""
    policy_headers.apply(config, view.policies.headers)
    policy_rate_limit.limit(config, view.policies.rate_limit)
    return config


def routes(view: ProxyView, cache: RenderCache | None = None) -> Mapping[str, Message]:
    """Every route config of the proxy; `cache` is the render cache of the state `view` was resolved from.

    The egress configs (a virtual host per backend, often thousands) are written as bytes from each
    service's serialised host and parsed into messages only if someone reads them."""
    if view.is_gateway:
        configs = [_own_policies(_gateway(view, li), view) for li in view.listeners]
        return {c.name: c for c in configs}
    ingress = [li for li in view.listeners if li.protocol in HTTP_FAMILY]
    if cache is not None and view.policies.headers is None and view.policies.rate_limit is None:
        bodies = {names.ingress_routes(li.protocol, li.port): _ingress_bytes(li, cache) for li in ingress}
        bodies.update(_egress(view, cache))
        return PackedResources.assemble(XdsType.ROUTES, {}, bodies)
    built = {c.name: _own_policies(c, view) for c in map(_ingress, ingress)}
    return PackedResources.assemble(XdsType.ROUTES, built, _egress(view, cache))
