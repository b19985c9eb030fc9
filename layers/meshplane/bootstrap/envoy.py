"""Build the Envoy `Bootstrap` proto for one proxy.

ADS mode: LDS and CDS over one ADS gRPC stream to meshplane (HTTP/2 keepalive
10 s / 20 s, connections recycled after 40 minutes, fast reconnect with backoff);
Envoy keeps serving its last config while the server is away.
File mode: LDS and CDS from the files `meshplane agent` writes.
With an SDS socket (`APPMESH_SDS_SOCKET_PATH`), the static cluster the translator's
`sds` certificates point at, as App Mesh's Envoy image defined it.
"""

from __future__ import annotations

import json
from pathlib import Path

from envoy.config.bootstrap.v3.bootstrap_pb2 import Bootstrap
from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.config.core.v3.address_pb2 import SocketAddress
from envoy.config.core.v3.backoff_pb2 import BackoffStrategy
from envoy.config.core.v3.base_pb2 import RetryPolicy
from envoy.config.core.v3.config_source_pb2 import ApiConfigSource, ApiVersion, ConfigSource
from envoy.config.core.v3.protocol_pb2 import Http2ProtocolOptions, HttpProtocolOptions, KeepaliveSettings
from envoy.config.metrics.v3.stats_pb2 import DogStatsdSink, StatsSink
from envoy.config.trace.v3.xray_pb2 import XRayConfig
from envoy.extensions.transport_sockets.tls.v3.common_pb2 import SubjectAltNameMatcher
from envoy.extensions.transport_sockets.tls.v3.tls_pb2 import UpstreamTlsContext
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2 as upstream_http
from envoy.type.matcher.v3.string_pb2 import StringMatcher
from google.protobuf.duration_pb2 import Duration

from meshplane.bootstrap.options import BootstrapOptions, is_ip, split_address
from meshplane.delivery.files import path_source
from meshplane.identity.layout import CERTIFICATE_SECRET, TRUSTED_CA_SECRET, IdentityLayout
from meshplane.model.ids import ProxyId
from meshplane.snapshot.types import XdsType
from meshplane.translate import observability
from meshplane.translate.tls import LOCAL_SDS_CLUSTER

ADS_CLUSTER = "meshplane_ads"
HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
KEEPALIVE_INTERVAL_S = 10
KEEPALIVE_TIMEOUT_S = 20
MAX_CONNECTION_DURATION_S = 40 * 60
RECONNECT_BASE_S = 0.25
RECONNECT_MAX_S = 5.0


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
    if options.region:
        node.locality.region = options.region
    if options.availability_zone:
        node.locality.zone = options.availability_zone
    metadata = {"platform": options.platform, "mode": options.mode, **options.metadata}
    if options.availability_zone:
        metadata["AWS_AVAILABILITY_ZONE"] = options.availability_zone
    if options.bind_address:
        metadata["BIND_ADDRESS"] = options.bind_address  # the ADS server localises the snapshot to it
    node.metadata.update(metadata)


def _xray(boot: Bootstrap, proxy: ProxyId, options: BootstrapOptions) -> None:
    tracing = observability.xray_tracing(proxy, port=options.xray_port)
    config = XRayConfig()
    tracing.http.typed_config.Unpack(config)
    manifest = {"version": 2, "rules": [], "default": {"fixed_target": 1, "rate": options.xray_sampling_rate}}
    config.sampling_rule_manifest.inline_string = json.dumps(manifest)
    tracing.http.typed_config.Pack(config)
    boot.tracing.CopyFrom(tracing)


def _dogstatsd(boot: Bootstrap, options: BootstrapOptions) -> None:
    address = DogStatsdSink().address
    address.socket_address.CopyFrom(
        SocketAddress(protocol=SocketAddress.UDP, address=options.statsd_address, port_value=options.statsd_port)
    )
    sink = DogStatsdSink(address=address)
    boot.stats_sinks.append(StatsSink(name="envoy.stat_sinks.dog_statsd"))
    boot.stats_sinks[-1].typed_config.Pack(sink)


def build(options: BootstrapOptions) -> Bootstrap:
    """The complete bootstrap; raises ValueError for a node id that names no proxy."""
    proxy = ProxyId.parse(options.node_id)
    boot = Bootstrap()
    _node(boot, options)
    admin = boot.admin.address.socket_address
    admin.address = options.bind_address or "127.0.0.1"
    admin.port_value = options.admin_port
    _dynamic_resources(boot, options)
    if options.sds_socket:
        boot.static_resources.clusters.append(_sds_cluster(options.sds_socket))
    if options.stats_tags:
        boot.stats_config.CopyFrom(observability.stats_config(proxy))
    if options.xray:
        _xray(boot, proxy, options)
    if options.dogstatsd:
        _dogstatsd(boot, options)
    return boot
