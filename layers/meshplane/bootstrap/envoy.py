"""Build the Envoy `Bootstrap` proto for one proxy.

ADS mode: LDS and CDS over one ADS gRPC stream to meshplane (HTTP/2 keepalive
10 s / 20 s, connections recycled after 40 minutes, fast reconnect with backoff);
Envoy keeps serving its last config while the server is away.
File mode: LDS and CDS from the files `meshplane agent` writes.
With an SDS socket (`APPMESH_SDS_SOCKET_PATH`), the static cluster the translator's
`sds` certificates point at, as App Mesh's Envoy image defined it.
Admin, tracing (`tracing.py`), stats (`stats.py`), the custom config files (`custom_files.py`),
the outlier event log and runtime values follow the App Mesh image's variables.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from envoy.config.bootstrap.v3.bootstrap_pb2 import Bootstrap
from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.config.core.v3.backoff_pb2 import BackoffStrategy
from envoy.config.core.v3.base_pb2 import RetryPolicy
from envoy.config.core.v3.config_source_pb2 import ApiConfigSource, ApiVersion, ConfigSource
from envoy.config.core.v3.protocol_pb2 import Http2ProtocolOptions, HttpProtocolOptions, KeepaliveSettings
from envoy.extensions.access_loggers.file.v3.file_pb2 import FileAccessLog
from envoy.extensions.transport_sockets.tls.v3.common_pb2 import SubjectAltNameMatcher
from envoy.extensions.transport_sockets.tls.v3.tls_pb2 import UpstreamTlsContext
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2 as upstream_http
from envoy.type.matcher.v3.string_pb2 import StringMatcher
from google.protobuf.duration_pb2 import Duration

from meshplane.bootstrap import custom_files, stats, tracing, zone
from meshplane.bootstrap.options import DEFAULT_ADMIN_BIND, BootstrapOptions, is_ip, split_address
from meshplane.delivery.files import path_source
from meshplane.identity.layout import CERTIFICATE_SECRET, TRUSTED_CA_SECRET, IdentityLayout
from meshplane.model.ids import ProxyId
from meshplane.snapshot.types import XdsType
from meshplane.translate.tls import LOCAL_SDS_CLUSTER

ADS_CLUSTER = "meshplane_ads"
HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
KEEPALIVE_INTERVAL_S = 10
KEEPALIVE_TIMEOUT_S = 20
MAX_CONNECTION_DURATION_S = 40 * 60
RECONNECT_BASE_S = 0.25
RECONNECT_MAX_S = 5.0
_IPV6_EQUIVALENT = {"127.0.0.1": "::1", "0.0.0.0": "::"}


def _duration(seconds: float) -> Duration:
    out = Duration()
    out.FromNanoseconds(int(seconds * 1e9))
    return out


def _http2_only(cluster: Cluster, http: upstream_http.HttpProtocolOptions | None = None) -> None:
    http = http or upstream_http.HttpProtocolOptions()
    http.explicit_http_config.http2_protocol_options.SetInParent()
    cluster.typed_extension_protocol_options[HTTP_OPTIONS].Pack(http)


def _sds_cluster(socket_path: str) -> Cluster:
    """gRPC (HTTP/2) to the local SDS provider over its Unix socket."""
    cluster = Cluster(name=LOCAL_SDS_CLUSTER, type=Cluster.STATIC, connect_timeout=_duration(1))
    cluster.load_assignment.cluster_name = LOCAL_SDS_CLUSTER
    endpoint = cluster.load_assignment.endpoints.add().lb_endpoints.add().endpoint
    endpoint.address.pipe.path = socket_path
    _http2_only(cluster)
    return cluster


def _ads_cluster(options: BootstrapOptions) -> Cluster:
    host, port = split_address(options.ads_address)
    cluster = Cluster(
        name=ADS_CLUSTER,
        type=Cluster.STATIC if is_ip(host) else Cluster.STRICT_DNS,
        connect_timeout=_duration(1),
    )
    socket_address = cluster.load_assignment.endpoints.add().lb_endpoints.add().endpoint.address.socket_address
    socket_address.address, socket_address.port_value = host, port
    cluster.load_assignment.cluster_name = ADS_CLUSTER
    http = upstream_http.HttpProtocolOptions(
        common_http_protocol_options=HttpProtocolOptions(max_connection_duration=_duration(MAX_CONNECTION_DURATION_S))
    )
    http.explicit_http_config.http2_protocol_options.CopyFrom(
        Http2ProtocolOptions(
            connection_keepalive=KeepaliveSettings(
                interval=_duration(KEEPALIVE_INTERVAL_S), timeout=_duration(KEEPALIVE_TIMEOUT_S)
            )
        )
    )
    _http2_only(cluster, http)
    cluster.upstream_connection_options.tcp_keepalive.keepalive_time.value = KEEPALIVE_INTERVAL_S
    if options.ads_tls_ca or options.ads_identity_dir:
        cluster.transport_socket.name = "envoy.transport_sockets.tls"
        cluster.transport_socket.typed_config.Pack(_ads_tls(options, host))
    return cluster


def _ads_tls(options: BootstrapOptions, host: str) -> UpstreamTlsContext:
    """TLS to the ADS server: its certificate must chain to the trusted CA *and* name the server.

    The name check matters: the node CA also signs every proxy's client certificate, so
    trusting the CA alone would let any proxy pose as the server. With an identity
    directory, the client certificate and the CA come from the files `meshplane identity`
    keeps fresh (file-based SDS, watched), so a renewal needs no restart; `--ads-tls-ca`
    pins the CA to a file instead.
    """
    name = options.ads_server_name or host
    tls = UpstreamTlsContext(sni="" if is_ip(name) else name)
    context = tls.common_tls_context
    matcher = SubjectAltNameMatcher(
        san_type=SubjectAltNameMatcher.IP_ADDRESS if is_ip(name) else SubjectAltNameMatcher.DNS,
        matcher=StringMatcher(exact=name),
    )
    if options.ads_identity_dir:
        layout = IdentityLayout(Path(options.ads_identity_dir))
        context.tls_certificate_sds_secret_configs.add(name=CERTIFICATE_SECRET, sds_config=layout.certificate_source())
        combined = context.combined_validation_context
        combined.default_validation_context.match_typed_subject_alt_names.append(matcher)
        if options.ads_tls_ca:
            combined.default_validation_context.trusted_ca.filename = options.ads_tls_ca
        else:
            secret = combined.validation_context_sds_secret_config
            secret.name = TRUSTED_CA_SECRET
            secret.sds_config.CopyFrom(layout.trusted_ca_source())
        return tls
    context.validation_context.trusted_ca.filename = options.ads_tls_ca
    context.validation_context.match_typed_subject_alt_names.append(matcher)
    if options.ads_tls_cert and options.ads_tls_key:
        certificate = context.tls_certificates.add()
        certificate.certificate_chain.filename = options.ads_tls_cert
        certificate.private_key.filename = options.ads_tls_key
    return tls


def _ads_source(options: BootstrapOptions) -> ConfigSource:
    source = ConfigSource(resource_api_version=ApiVersion.V3)
    source.ads.SetInParent()
    if options.initial_fetch_timeout is not None:
        source.initial_fetch_timeout.CopyFrom(_duration(options.initial_fetch_timeout))
    return source


def _dynamic_resources(boot: Bootstrap, options: BootstrapOptions) -> None:
    dynamic = boot.dynamic_resources
    if options.mode == "file":
        root = Path(options.file_dir)
        dynamic.lds_config.CopyFrom(path_source(root, XdsType.LISTENERS))
        dynamic.cds_config.CopyFrom(path_source(root, XdsType.CLUSTERS))
        return
    ads = dynamic.ads_config
    ads.api_type = ApiConfigSource.DELTA_GRPC if options.ads_delta else ApiConfigSource.GRPC
    ads.transport_api_version = ApiVersion.V3
    ads.set_node_on_first_message_only = True
    grpc_service = ads.grpc_services.add()
    grpc_service.envoy_grpc.cluster_name = ADS_CLUSTER
    grpc_service.envoy_grpc.retry_policy.CopyFrom(
        RetryPolicy(
            retry_back_off=BackoffStrategy(
                base_interval=_duration(RECONNECT_BASE_S), max_interval=_duration(RECONNECT_MAX_S)
            )
        )
    )
    dynamic.lds_config.CopyFrom(_ads_source(options))
    dynamic.cds_config.CopyFrom(_ads_source(options))
    boot.static_resources.clusters.append(_ads_cluster(options))


def _node(boot: Bootstrap, options: BootstrapOptions) -> None:
    node = boot.node
    node.id = options.node_id
    node.cluster = options.cluster or options.node_id
    # Only the zone goes in the locality: Envoy finds the caller's own zone among endpoint localities by
    # comparing region, zone and sub-zone, and discovery's endpoints name their zone alone, so a region
    # here would match no endpoint and turn zone-aware routing off.  The region stays in the metadata.
    if options.availability_zone:
        node.locality.zone = options.availability_zone
    metadata = {"platform": options.platform, "mode": options.mode, **options.metadata}
    if options.region:
        metadata["AWS_REGION"] = options.region
    if options.availability_zone:
        metadata["AWS_AVAILABILITY_ZONE"] = options.availability_zone
    if options.bind_address:
        metadata["BIND_ADDRESS"] = options.bind_address  # the ADS server localises the snapshot to it
    node.metadata.update(metadata)


def _admin(boot: Bootstrap, options: BootstrapOptions) -> None:
    """127.0.0.1 unless told otherwise: the admin API has unauthenticated mutating endpoints (/quitquitquit,
    /healthcheck/fail, /runtime_modify), so reaching it from outside the task is an explicit choice
    (ENVOY_ADMIN_ACCESS_BIND=0.0.0.0, App Mesh's behaviour). With ENVOY_ADMIN_ACCESS_ENABLE_IPV6 the
    loopback and wildcard addresses become ::1 and :: (the latter takes IPv4 too, as App Mesh's did)."""
    address = options.admin_bind or options.bind_address or DEFAULT_ADMIN_BIND
    socket = boot.admin.address.socket_address
    if options.admin_ipv6:
        if address in _IPV6_EQUIVALENT:
            address = _IPV6_EQUIVALENT[address]
        elif ipaddress.ip_address(address).version != 6:
            raise ValueError(f"ENVOY_ADMIN_ACCESS_ENABLE_IPV6 is on but the admin address {address} is IPv4")
        socket.ipv4_compat = address == "::"
    socket.address, socket.port_value = address, options.admin_port
    log = boot.admin.access_log.add(name="envoy.access_loggers.file")
    log.typed_config.Pack(FileAccessLog(path=options.admin_access_log))


def _runtime(boot: Bootstrap, options: BootstrapOptions) -> None:
    """A static layer only when a runtime value is asked for; the admin layer keeps `/runtime_modify` working."""
    if options.max_requests_per_io_cycle is None:
        return
    static = boot.layered_runtime.layers.add(name="static_layer_0").static_layer
    static.update({"http.max_requests_per_io_cycle": options.max_requests_per_io_cycle})
    boot.layered_runtime.layers.add(name="admin_layer").admin_layer.SetInParent()


def build(options: BootstrapOptions) -> Bootstrap:
    """The complete bootstrap; raises ValueError (one line, naming the variable) for what cannot be honoured."""
    options.check()
    proxy = ProxyId.parse(options.node_id)
    boot = Bootstrap()
    _node(boot, options)
    _admin(boot, options)
    _dynamic_resources(boot, options)
    if options.availability_zone and options.mode == "ads":
        zone.declare_local_cluster(boot)  # zone-aware routing weighs the callee's zones against this node's
    if options.sds_socket:
        boot.static_resources.clusters.append(_sds_cluster(options.sds_socket))
    boot.cluster_manager.outlier_detection.event_log_path = options.outlier_event_log
    _runtime(boot, options)
    provider, collectors = tracing.tracer(options, proxy)
    if provider is not None:
        boot.tracing.CopyFrom(provider)
        boot.static_resources.clusters.extend(collectors)
    stats.apply(boot, options, proxy)
    custom_files.apply(boot, options)
    return boot
