"""CDS: the local app clusters, one egress cluster per backend virtual node listener, and helpers."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import TypeAlias, cast

from envoy.config.cluster.v3 import circuit_breaker_pb2, outlier_detection_pb2
from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.config.core.v3 import health_check_pb2, protocol_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2
from google.protobuf import any_pb2

from meshplane.graph import names
from meshplane.graph.view import ConnectionPool, IngressListener, Protocol, ProxyView, Upstream
from meshplane.snapshot.packing import wired
from meshplane.snapshot.snapshot import PackedResources
from meshplane.snapshot.types import XdsType
from meshplane.translate import extensions
from meshplane.translate import tls as tls_
from meshplane.translate.cache import RenderCache
from meshplane.translate.cds_wire import EdsTemplate, StaticTemplate
from meshplane.translate.core import MAX_INT32, address, ads, duration, millis, positive, seconds, typed
from meshplane.translate.policy import ejection as policy_ejection
from meshplane.translate.policy import jwt as policy_jwt
from meshplane.translate.policy import retry_budget as policy_retry_budget
from meshplane.translate.policy import tracing as policy_tracing
from meshplane.translate.policy import zone_aware as policy_zone_aware

CONNECT_TIMEOUT_S = 1.0
# A cluster as `clusters` collects it: built, written as bytes, or those bytes with their `Any` (`packing.wired`).
Part: TypeAlias = "Cluster | bytes | tuple[bytes, bytes]"
_HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
_DNS_FAMILY = {
    "IPv4_ONLY": Cluster.V4_ONLY,
    "IPv6_ONLY": Cluster.V6_ONLY,
    "IPv4_PREFERRED": Cluster.V4_PREFERRED,
    "IPv6_PREFERRED": Cluster.AUTO,
}


def static_assignment(name: str, host: str, port: int) -> endpoint_pb2.ClusterLoadAssignment:
    lb = endpoint_components_pb2.LbEndpoint(endpoint=endpoint_components_pb2.Endpoint(address=address(host, port)))
    return endpoint_pb2.ClusterLoadAssignment(
        cluster_name=name, endpoints=[endpoint_components_pb2.LocalityLbEndpoints(lb_endpoints=[lb])]
    )


def _protocol(cluster: Cluster, protocol: str) -> None:
    """http2 and grpc upstreams speak HTTP/2; everything else keeps Envoy's HTTP/1.1 default."""
    if protocol in ("http2", "grpc"):
        cluster.typed_extension_protocol_options[_HTTP_OPTIONS].CopyFrom(_http2_options())


@functools.cache
def _http2_options() -> any_pb2.Any:
    """Packed once: every HTTP/2 cluster carries the same options (callers copy it)."""
    return typed(
        http_protocol_options_pb2.HttpProtocolOptions(
            explicit_http_config=http_protocol_options_pb2.HttpProtocolOptions.ExplicitHttpConfig(
                http2_protocol_options=protocol_pb2.Http2ProtocolOptions()
            )
        )
    )


def circuit_breakers(pool: ConnectionPool | None) -> circuit_breaker_pb2.CircuitBreakers:
    """App Mesh's limits: the connection pool's where set, 2147483647 everywhere else."""
    if pool is None:
        return _default_breakers()
    return _breakers(pool)


@functools.cache
def _default_breakers() -> circuit_breaker_pb2.CircuitBreakers:
    return _breakers(None)


def _breakers(pool: ConnectionPool | None) -> circuit_breaker_pb2.CircuitBreakers:
    limits = {"max_connections": MAX_INT32, "max_pending_requests": MAX_INT32, "max_requests": MAX_INT32}
    if pool is not None:
        _, value = pool.member
        for field in limits:
            given = getattr(value, field, None)
            if given is not None:
                limits[field] = given
    threshold = circuit_breaker_pb2.CircuitBreakers.Thresholds(max_retries={"value": MAX_INT32})
    for field, limit in limits.items():
        getattr(threshold, field).value = limit
    return circuit_breaker_pb2.CircuitBreakers(thresholds=[threshold])


def local_cluster(name: str, port: int, protocol: str, pool: ConnectionPool | None, host: str = "127.0.0.1") -> Cluster:
    """The proxy's own app (or, for gateways, its own listener): static, on loopback."""
    cluster = Cluster(
        name=name,
        type=Cluster.STATIC,
        connect_timeout=seconds(CONNECT_TIMEOUT_S),
        load_assignment=static_assignment(name, host, port),
        circuit_breakers=circuit_breakers(pool),
    )
    _protocol(cluster, protocol)
    return cluster


def health_check(upstream: Upstream) -> health_check_pb2.HealthCheck | None:
    """The target listener's healthCheck, run by this (calling) Envoy."""
    hc = upstream.health_check
    if hc is None:
        return None
    check = health_check_pb2.HealthCheck(
        timeout=millis(hc.timeout_millis),
        interval=millis(hc.interval_millis),
        # App Mesh's interval holds whether or not the cluster has traffic (Envoy would wait 60 s).
        no_traffic_interval=millis(hc.interval_millis),
        unhealthy_threshold={"value": hc.unhealthy_threshold},
        healthy_threshold={"value": hc.healthy_threshold},
    )
    if hc.protocol == "tcp" or (hc.protocol == "grpc" and upstream.protocol not in ("http2", "grpc")):
        # Envoy's gRPC health check needs an HTTP/2 cluster: elsewhere only a connect check is honest.
        check.tcp_health_check.SetInParent()
    elif hc.protocol == "grpc":
        check.grpc_health_check.SetInParent()
    else:
        check.http_health_check.path = hc.path or "/"
        if hc.protocol == "http2":
            check.http_health_check.codec_client_type = 1  # HTTP2
    return check


def outlier_detection(upstream: Upstream) -> outlier_detection_pb2.OutlierDetection | None:
    od = upstream.outlier_detection
    if od is None:
        return None
    return outlier_detection_pb2.OutlierDetection(
        consecutive_5xx={"value": od.max_server_errors},
        interval=positive(duration(od.interval)),
        base_ejection_time=positive(duration(od.base_ejection_duration)),
        max_ejection_percent={"value": od.max_ejection_percent},
    )


@functools.cache
def _egress_base() -> Cluster:
    """What every egress cluster shares, built once and copied (never mutated)."""
    return Cluster(connect_timeout=seconds(CONNECT_TIMEOUT_S), circuit_breakers=circuit_breakers(None))


@functools.cache
def _eds_base() -> Cluster:
    cluster = Cluster()
    cluster.CopyFrom(_egress_base())
    cluster.type = Cluster.EDS
    cluster.eds_cluster_config.eds_config.CopyFrom(ads())
    return cluster


def egress_cluster(upstream: Upstream) -> Cluster:
    """A backend virtual node listener: EDS from discovery, or DNS for `dns` service discovery."""
    sd = upstream.discovery
    cluster = Cluster()
    cluster.CopyFrom(_eds_base() if upstream.uses_endpoints else _egress_base())
    cluster.name = upstream.cluster
    if sd is not None and sd.dns is not None:  # the DNS case (not `uses_endpoints`), its shapes read below
        endpoints = sd.dns.response_type == "ENDPOINTS"
        cluster.type = Cluster.STRICT_DNS if endpoints else Cluster.LOGICAL_DNS
        cluster.load_assignment.CopyFrom(static_assignment(upstream.cluster, sd.dns.hostname, upstream.port))
        if upstream.health_check is not None and upstream.health_check.port is not None:
            for locality in cluster.load_assignment.endpoints:
                for lb in locality.lb_endpoints:
                    lb.endpoint.health_check_config.port_value = upstream.health_check.port
        # Without a preference App Mesh's resolver prefers IPv6 and falls back to IPv4 (AUTO).
        cluster.dns_lookup_family = _DNS_FAMILY.get(upstream.ip_preference or "", Cluster.AUTO)
    else:
        cluster.eds_cluster_config.service_name = upstream.cluster
    hc = health_check(upstream)
    if hc is not None:
        cluster.health_checks.append(hc)
    od = outlier_detection(upstream)
    if od is not None:
        cluster.outlier_detection.CopyFrom(od)
    policy_ejection.apply(cluster, upstream.policies.outlier_detection)
    policy_retry_budget.apply(cluster, upstream.policies.retry_budget)
    if upstream.tls is not None:
        cluster.transport_socket.CopyFrom(tls_.upstream_socket(upstream.tls, tls_.server_name(sd)))
    _protocol(cluster, upstream.protocol)
    extensions.apply_balancing(cluster, upstream.balancing)
    return cluster


def original_dst_cluster(name: str, *, use_http_header: bool) -> Cluster:
    """Passthrough to where the app was really going (iptables' original destination)."""
    cluster = Cluster(
        name=name,
        type=Cluster.ORIGINAL_DST,
        lb_policy=Cluster.CLUSTER_PROVIDED,
        connect_timeout=seconds(CONNECT_TIMEOUT_S),
    )
    cluster.original_dst_lb_config.use_http_header = use_http_header
    return cluster


def _egress_clusters(view: ProxyView, cache: RenderCache | None) -> Iterator[tuple[str, Part]]:
    """One cluster per upstream; shared through `cache` unless this proxy's zone-aware settings
    (`policy_zone_aware.apply`, which edits them in place) make them its own."""
    if cache is None or policy_zone_aware.wants_local(view):
        return ((u.cluster, egress_cluster(u)) for u in view.upstreams)
    return ((u.cluster, _shared_egress(u, cache)) for u in view.upstreams)


def _shared_egress(upstream: Upstream, cache: RenderCache) -> Part:
    """`egress_cluster(upstream)` through `cache`; a plain one written as bytes from its protocol's template."""
    if _plain(upstream):
        return cache.value(("cds", upstream.cluster), _plain_wired, upstream.protocol, upstream.cluster)
    return cache.get(("cds", upstream.cluster, cache.keys.of(upstream.tls)), egress_cluster, upstream)


def _plain(upstream: Upstream) -> bool:
    """An EDS upstream whose cluster holds nothing of its own but its name and protocol."""
    sections = upstream.policies
    return (
        upstream.uses_endpoints and upstream.health_check is None and upstream.outlier_detection is None
        and upstream.tls is None and upstream.balancing is None
        and sections.outlier_detection is None and sections.retry_budget is None
    )


def _plain_wired(protocol: Protocol, name: str) -> tuple[bytes, bytes]:
    """The plain cluster `name` of `protocol` as its bytes and its `Any`, which a render cache keeps."""
    return wired(XdsType.CLUSTERS, _eds_template(protocol).named(name))


@functools.cache
def _eds_template(protocol: Protocol) -> EdsTemplate:
    """The egress cluster of a plain upstream of `protocol`, without its names."""
    nameless = Upstream(cluster="", node="", port=0, protocol=protocol, discovery=None, ip_preference=None,
                        health_check=None, outlier_detection=None, tls=None)
    return EdsTemplate.of(egress_cluster(nameless))


def _local(listener: IngressListener, cache: RenderCache | None, gateway: bool) -> Cluster | bytes:
    """`local_cluster` of the listener; a sidecar's written as bytes from a template its state's proxies share
    (a gateway's stays a message: its policies may edit it)."""
    li = listener
    if cache is None or gateway:
        return local_cluster(li.cluster, li.port, li.protocol, li.connection_pool, li.app_address)
    key = ("local-template", li.port, li.protocol, cache.keys.of(li.connection_pool), li.app_address)
    template = cache.value(key, _static_template, li.port, li.protocol, li.connection_pool, li.app_address)
    return template.named(li.cluster)


def _static_template(port: int, protocol: str, pool: ConnectionPool | None, host: str) -> StaticTemplate:
    return StaticTemplate.of(local_cluster("", port, protocol, pool, host))


def clusters(view: ProxyView, cache: RenderCache | None = None) -> PackedResources:
    """The local app (or gateway self-redirect) clusters, one per backend listener, and passthroughs.

    `cache` must be the render cache of the state `view` was resolved from; the clusters it shares
    are held as their bytes, parsed only if someone reads them."""
    out: dict[str, Part] = {li.cluster: _local(li, cache, view.is_gateway) for li in view.listeners}
    out.update(_egress_clusters(view, cache))
    if policy_zone_aware.wants_local(view):
        policy_zone_aware.apply(cast(dict[str, Cluster], out), view)  # every egress cluster is built here
    out.update(policy_tracing.clusters(view))
    if view.is_gateway and (view.policies.jwt is not None or view.policies.authorization is not None):
        for li in view.listeners:
            policy_jwt.bind_loop_back_hop(cast(Cluster, out[li.cluster]))  # built above
    out.update(policy_jwt.clusters(view.policies.jwt, view.proxy.mesh))
    if not view.is_gateway:
        mesh = view.proxy.mesh
        out[names.amazonaws_cluster(mesh)] = _passthrough(names.amazonaws_cluster(mesh), False, cache)
        if view.allow_all:
            out[names.passthrough_cluster(mesh)] = _passthrough(names.passthrough_cluster(mesh), True, cache)
    return PackedResources.of_parts(XdsType.CLUSTERS, out, cache.known if cache is not None else None)


def _passthrough(name: str, use_http_header: bool, cache: RenderCache | None) -> Part:
    """An original-destination cluster, the same for every proxy of a mesh: shared through `cache` as its
    bytes and `Any`, so no proxy wraps it again."""
    if cache is None:
        return original_dst_cluster(name, use_http_header=use_http_header)
    return cache.value(("cds-original-dst", name, use_http_header), _original_dst_wired, name, use_http_header)


def _original_dst_wired(name: str, use_http_header: bool) -> tuple[bytes, bytes]:
    cluster = original_dst_cluster(name, use_http_header=use_http_header)
    return wired(XdsType.CLUSTERS, cluster.SerializeToString(deterministic=True))
