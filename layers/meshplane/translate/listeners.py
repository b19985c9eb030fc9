"""LDS: the ingress listener (to the local app), the egress listener (to backends), gateway listeners."""

from __future__ import annotations

import functools
from collections.abc import Hashable, Sequence

from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.config.core.v3 import base_pb2, substitution_format_string_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc
from envoy.config.listener.v3.listener_pb2 import Listener
from envoy.config.route.v3 import route_components_pb2
from envoy.extensions.access_loggers.file.v3 import file_pb2
from envoy.extensions.filters.http.health_check.v3 import health_check_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.listener.original_dst.v3 import original_dst_pb2
from envoy.extensions.filters.listener.tls_inspector.v3 import tls_inspector_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from envoy.type.matcher.v3 import string_pb2
from google.protobuf import struct_pb2
from google.protobuf.message import Message

from meshplane.graph import names
from meshplane.graph.memo import ContentKeys
from meshplane.graph.view import HTTP_FAMILY, IngressListener, ProxyView, ServicePort
from meshplane.model import shapes
from meshplane.translate import extensions, observability
from meshplane.translate import tls as tls_
from meshplane.translate.cache import RenderCache
from meshplane.translate.core import EGRESS_DIRECT_PORT, address, ads, duration, millis, typed
from meshplane.translate.policy import authorization as policy_authorization
from meshplane.translate.policy import jwt as policy_jwt
from meshplane.translate.policy import rate_limit as policy_rate_limit
from meshplane.translate.routes import group_protocol

_HCM = "envoy.filters.network.http_connection_manager"
_TCP = "envoy.filters.network.tcp_proxy"


def access_logs(view: ProxyView) -> list[accesslog_pb2.AccessLog]:
    log = view.access_log
    if log is None:
        return []
    config = file_pb2.FileAccessLog(path=log.path)
    if log.format is not None:
        kind, value = log.format.member
        fmt = substitution_format_string_pb2.SubstitutionFormatString()
        if kind == "text":
            fmt.text_format_source.CopyFrom(base_pb2.DataSource(inline_string=value))
        else:
            fmt.json_format.CopyFrom(
                struct_pb2.Struct(fields={p.key: struct_pb2.Value(string_value=p.value) for p in value})
            )
        config.log_format.CopyFrom(fmt)
    return [accesslog_pb2.AccessLog(name="envoy.access_loggers.file", typed_config=typed(config))]


@functools.cache
def _router_filter() -> hcm.HttpFilter:
    """Packed once: every HTTP connection manager ends with the same router (copied in, never mutated)."""
    return hcm.HttpFilter(name="envoy.filters.http.router", typed_config=typed(router_pb2.Router()))


def http_filter(
    view: ProxyView,
    stat_prefix: str,
    route_config: str,
    idle: shapes.Duration | None = None,
    *,
    strip_port: bool = False,
    before_router: Sequence[hcm.HttpFilter] = (),
    local_reply: hcm.LocalReplyConfig | None = None,
) -> lc.Filter:
    manager = hcm.HttpConnectionManager(
        stat_prefix=stat_prefix,
        codec_type=hcm.HttpConnectionManager.AUTO,
        rds=hcm.Rds(config_source=ads(), route_config_name=route_config),
        http_filters=[
            *before_router,
            *([extensions.fault_filter()] if view.injects_faults else []),
            _router_filter(),
        ],
        access_log=access_logs(view),
        tracing=observability.hcm_tracing(view),
        merge_slashes=True,
        normalize_path={"value": True},
        strip_any_host_port=strip_port,
    )
    if idle is not None:
        manager.common_http_protocol_options.idle_timeout.CopyFrom(duration(idle))
    if local_reply is not None:
        manager.local_reply_config.CopyFrom(local_reply)
    return lc.Filter(name=_HCM, typed_config=typed(manager))


def tcp_filter(
    view: ProxyView, stat_prefix: str, weights: list[tuple[str, int]], idle: shapes.Duration | None = None
) -> lc.Filter:
    proxy = tcp_proxy_pb2.TcpProxy(stat_prefix=stat_prefix, access_log=access_logs(view))
    live = [(c, w) for c, w in weights if w > 0]
    if len(live) == 1:
        proxy.cluster = live[0][0]
    else:
        for cluster, weight in live:
            proxy.weighted_clusters.clusters.add(name=cluster, weight=weight)
    if idle is not None:
        proxy.idle_timeout.CopyFrom(duration(idle))
    return lc.Filter(name=_TCP, typed_config=typed(proxy))


def own_health_check(check: shapes.VirtualGatewayHealthCheckPolicy) -> hcm.HttpFilter:
    """The gateway answers its listener's health check itself (not passed on to a backend):
    200 while it serves, 503 once Envoy is draining or failed (`/healthcheck/fail`), so the load
    balancer in front takes it out before it stops."""
    matcher = route_components_pb2.HeaderMatcher(name=":path", string_match=string_pb2.StringMatcher(exact=check.path))
    config = health_check_pb2.HealthCheck(headers=[matcher])
    config.pass_through_mode.value = False
    return hcm.HttpFilter(name="envoy.filters.http.health_check", typed_config=typed(config))


def _listener_filter(name: str, message: Message) -> lc.ListenerFilter:
    return lc.ListenerFilter(name=name, typed_config=typed(message))


_ORIGINAL_DST = ("envoy.filters.listener.original_dst", original_dst_pb2.OriginalDst())
_TLS_INSPECTOR = ("envoy.filters.listener.tls_inspector", tls_inspector_pb2.TlsInspector())


def _ingress_chains(
    view: ProxyView, listener: IngressListener, match_port: bool, route_config: str
) -> list[lc.FilterChain]:
    timeout = listener.timeout.member[1] if listener.timeout is not None else None
    idle = getattr(timeout, "idle", None)
    prefix = observability.ingress_stat_prefix(listener.protocol, listener.port)
    if listener.protocol in HTTP_FAMILY:
        extra = [own_health_check(listener.health_check)] if listener.health_check is not None else []
        extra += policy_rate_limit.filters(view.policies.rate_limit)  # after the health check: never limited
        extra += policy_jwt.http_filters(view.policies.jwt, view.proxy.mesh)
        extra += policy_authorization.http_filters(view.policies.authorization, view.proxy.mesh)  # after identity
        network = http_filter(
            view, prefix, route_config, idle, strip_port=view.is_gateway, before_router=extra,
            local_reply=policy_jwt.local_reply(view.policies.jwt),
        )
    else:
        network = tcp_filter(view, prefix, [(listener.cluster, 1)], idle)
    chain_filters = [
        *policy_authorization.network_filters(view.policies.authorization, view.proxy.mesh, listener.protocol),
        network,
    ]
    base = lc.FilterChainMatch()
    if match_port:
        base.destination_port.value = listener.port
    chain_name = f"{listener.protocol}_{listener.port}"
    if not tls_.tls_enabled(listener.tls):
        return [lc.FilterChain(name=chain_name, filter_chain_match=base, filters=chain_filters)]
    secured_match = lc.FilterChainMatch()
    secured_match.CopyFrom(base)
    secured_match.transport_protocol = "tls"
    secured = lc.FilterChain(
        name=f"{chain_name}_tls",
        filter_chain_match=secured_match,
        filters=chain_filters,
        transport_socket=policy_authorization.downstream_socket(tls_.downstream_socket(listener.tls),
                                                                view.policies.authorization),
    )
    if listener.tls.mode == "STRICT":
        return [secured]
    plain_match = lc.FilterChainMatch()
    plain_match.CopyFrom(base)
    plain_match.transport_protocol = "raw_buffer"
    return [secured, lc.FilterChain(name=f"{chain_name}_plain", filter_chain_match=plain_match, filters=chain_filters)]


# A TLS client sends its ClientHello right after connecting; anything still silent after this
# is a server-speaks-first protocol (SMTP, MySQL, ...) and must not wait Envoy's default 15 s.
INSPECTOR_TIMEOUT_MS = 250


def _listener(name: str, port: int, chains: list[lc.FilterChain], filters: list[tuple[str, Message]]) -> Listener:
    listener = Listener(
        name=name,
        address=address("0.0.0.0", port),
        filter_chains=chains,
        listener_filters=[_listener_filter(n, m) for n, m in filters],
    )
    if any(f is _TLS_INSPECTOR for f in filters):
        listener.listener_filters_timeout.CopyFrom(millis(INSPECTOR_TIMEOUT_MS))
        listener.continue_on_listener_filters_timeout = True
    return listener


def _needs_inspector(listeners: tuple[IngressListener, ...]) -> bool:
    return any(tls_.tls_enabled(li.tls) for li in listeners)


def ingress(view: ProxyView) -> Listener | None:
    """Multi-listener nodes match on the original destination port; a single one matches all,
    so a sidecar reached directly on :15000 (no iptables) still serves its app."""
    if not view.listeners:
        return None
    multi = len(view.listeners) > 1
    chains = [
        chain
        for li in view.listeners
        for chain in _ingress_chains(view, li, multi, names.ingress_routes(li.protocol, li.port))
    ]
    filters = ([_ORIGINAL_DST] if multi else []) + ([_TLS_INSPECTOR] if _needs_inspector(view.listeners) else [])
    return _listener(names.ingress_listener(), names.INGRESS_PORT, chains, filters)


def _tcp_weights(service: ServicePort) -> list[tuple[str, int]]:
    route = service.routes[0]
    return [(t.cluster, t.weight) for t in route.targets]


def _tcp_idle(service: ServicePort) -> shapes.Duration | None:
    spec = service.routes[0].spec
    timeout = spec.timeout if spec is not None else None
    return timeout.idle if timeout is not None else None


def _egress_key(view: ProxyView, keys: ContentKeys) -> Hashable | None:
    """Everything `egress` reads from `view`; None when that includes the proxy's own name
    (a tracing section's service name), so the listener is the proxy's alone."""
    if view.policies.tracing is not None:
        return None
    groups = tuple((port, group_protocol(services)) for port, services in sorted(view.http_groups.items()))
    tcp = tuple((s.port, tuple(_tcp_weights(s)), keys.of(_tcp_idle(s))) for s in view.tcp_chains)
    faults = view.injects_faults
    return "lds-egress", view.proxy.mesh, groups, tcp, keys.of(view.access_log), faults, view.allow_all


def egress(view: ProxyView) -> Listener:
    """Per-port chains for the declared backends, an SNI chain for `*.amazonaws.com`, the direct
    chain for apps that call the listener itself, and what happens to everything else.

    Everything else is a connection iptables redirected from an undeclared destination.  Under
    ALLOW_ALL it is proxied as plain TCP to that destination, whatever it speaks (HTTPS, a
    database, a server-speaks-first protocol); under DROP_ALL no chain matches and Envoy closes
    it, as App Mesh's listener did.  A declared port keeps its own chain either way, so HTTP to an
    undeclared host on that port still reaches the ALLOW_ALL virtual host of its route config.
    """
    mesh = view.proxy.mesh
    chains: list[lc.FilterChain] = []
    for port, services in sorted(view.http_groups.items()):
        config = names.egress_routes(group_protocol(services), port)
        match = lc.FilterChainMatch(destination_port={"value": port})
        chains.append(
            lc.FilterChain(name=config, filter_chain_match=match, filters=[http_filter(view, "egress", config)])
        )
    for service in view.tcp_chains:
        match = lc.FilterChainMatch(destination_port={"value": service.port})
        chains.append(
            lc.FilterChain(
                name=f"tcp_{service.port}",
                filter_chain_match=match,
                filters=[tcp_filter(view, "egress", _tcp_weights(service), _tcp_idle(service))],
            )
        )
    aws = lc.FilterChainMatch(server_names=["*.amazonaws.com"], transport_protocol="tls")
    chains.append(
        lc.FilterChain(
            name="amazonaws",
            filter_chain_match=aws,
            filters=[tcp_filter(view, "amazonaws", [(names.amazonaws_cluster(mesh), 1)])],
        )
    )
    if all(c.filter_chain_match.destination_port.value != names.EGRESS_PORT for c in chains):
        chains.append(_direct_chain(view))  # else a backend declared on the listener's own port holds it
    listener = _listener(names.egress_listener(), names.EGRESS_PORT, chains, [_ORIGINAL_DST, _TLS_INSPECTOR])
    if view.allow_all:
        listener.default_filter_chain.CopyFrom(_passthrough_chain(view))
    return listener


def _direct_chain(view: ProxyView) -> lc.FilterChain:
    """A connection addressed to the listener's own port was not redirected: an app calling its
    sidecar directly (no iptables), naming the virtual service in its Host header."""
    direct = names.egress_routes("http", EGRESS_DIRECT_PORT)
    match = lc.FilterChainMatch(destination_port={"value": names.EGRESS_PORT})
    return lc.FilterChain(name="direct", filter_chain_match=match, filters=[http_filter(view, "egress", direct)])


def _passthrough_chain(view: ProxyView) -> lc.FilterChain:
    """ALLOW_ALL: any other connection goes, as TCP, to the destination the app connected to."""
    cluster = names.passthrough_cluster(view.proxy.mesh)
    return lc.FilterChain(name="passthrough", filters=[tcp_filter(view, "passthrough", [(cluster, 1)])])


def _self_redirect_chain(
    view: ProxyView, listener: IngressListener, match: lc.FilterChainMatch | None = None
) -> lc.FilterChain:
    """STRICT gateway listeners still take the gateway's own plaintext loop-back hop (local source only);
    with end-user policies every listener gives that hop a chain of its own, matched by `match`."""
    if match is None:
        local = lc.FilterChainMatch.SAME_IP_OR_LOOPBACK
        match = lc.FilterChainMatch(source_type=local, transport_protocol="raw_buffer")
    prefix = observability.ingress_stat_prefix(listener.protocol, listener.port)
    route_config = names.ingress_routes(listener.protocol, listener.port)
    limit = policy_rate_limit.filters(view.policies.rate_limit)  # the loop-back hop is where requests are counted
    network = http_filter(view, prefix, route_config, strip_port=True, before_router=limit)
    return lc.FilterChain(
        name=f"{listener.protocol}_{listener.port}_self_redirect", filter_chain_match=match, filters=[network]
    )


def gateway(view: ProxyView) -> list[Listener]:
    out = []
    for li in view.listeners:
        chains = _ingress_chains(view, li, False, names.ingress_routes(li.protocol, li.port))
        if view.policies.jwt is not None or view.policies.authorization is not None:  # the client's hop only
            chains.append(_self_redirect_chain(view, li, policy_jwt.loop_back_hop_match(tls_.tls_enabled(li.tls))))
        elif li.tls is not None and li.tls.mode == "STRICT":
            chains.append(_self_redirect_chain(view, li))
        filters = [_TLS_INSPECTOR] if _needs_inspector((li,)) else []
        out.append(_listener(names.gateway_listener(li.port), li.port, chains, filters))
    return out


def _shared_egress(view: ProxyView, cache: RenderCache | None) -> Listener:
    """The egress listener, shared through `cache` by the proxies whose `_egress_key` is equal."""
    key = _egress_key(view, cache.keys) if cache is not None else None
    if cache is None or key is None:
        return egress(view)
    return cache.get(key, egress, view)


def _ingress_key(view: ProxyView, keys: ContentKeys) -> Hashable | None:
    """Everything `ingress` reads from a sidecar's `view`; None when that includes a policy section of
    the proxy's own (held by few proxies; a tracing section names the proxy), so it is built alone.

    An HTTP listener's chains name its route config, not its cluster: sidecars whose listeners have
    the same ports, protocols, TLS, timeouts and access log share one ingress listener.  A TCP
    listener's chain names the proxy's own cluster, which the key then holds."""
    own = view.policies
    if own.tracing is not None or own.rate_limit is not None or own.jwt is not None or own.authorization is not None:
        return None
    shape = tuple(
        (li.port, li.protocol, None if li.protocol in HTTP_FAMILY else li.cluster, keys.of(li.tls),
         keys.of(li.timeout), keys.of(li.health_check))
        for li in view.listeners
    )
    return "lds-ingress", view.proxy.mesh, shape, keys.of(view.access_log), view.injects_faults


def _shared_ingress(view: ProxyView, cache: RenderCache | None) -> Listener | None:
    """The sidecar's ingress listener, shared through `cache` by the sidecars whose `_ingress_key` is equal."""
    key = _ingress_key(view, cache.keys) if cache is not None else None
    if cache is None or key is None or not view.listeners:
        return ingress(view)
    return cache.get(key, _ingress_of, view)


def _ingress_of(view: ProxyView) -> Listener:
    """`ingress` of a view that has listeners."""
    built = ingress(view)
    assert built is not None  # the caller checked `view.listeners`
    return built


def listeners(view: ProxyView, cache: RenderCache | None = None) -> dict[str, Listener]:
    """The proxy's listeners; `cache` is the render cache of the state `view` was resolved from."""
    if view.is_gateway:
        return {li.name: li for li in gateway(view)}
    found = [_shared_ingress(view, cache), _shared_egress(view, cache)]
    return {li.name: li for li in found if li is not None}
