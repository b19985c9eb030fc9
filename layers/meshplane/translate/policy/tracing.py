"""Envoy side of the `tracing` section: OpenTelemetry spans over OTLP gRPC.

Which tracer a connection manager uses, most specific first:
1. the proxy's own `tracing` section (its virtual node's or gateway's policy);
2. the mesh-wide `tracing` section;
3. the bootstrap's tracer (X-Ray, Datadog or Jaeger from the sidecar's environment, or a
   custom `ENVOY_TRACING_CFG_FILE`), which a connection manager naming no provider uses;
4. none: no spans.
A section names its provider on every HTTP connection manager of the proxy, which Envoy
prefers over the bootstrap's, so a policy replaces the environment's tracer rather than
adding a second one.  The collector is reached through its own cluster, sent with the snapshot.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.config.core.v3 import grpc_service_pb2, protocol_pb2
from envoy.config.trace.v3 import http_tracer_pb2, opentelemetry_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2

from meshplane.graph.view import ProxyView
from meshplane.model.ids import ProxyId
from meshplane.translate.core import address, seconds, typed

if TYPE_CHECKING:  # the section models load only where a policy gives the section
    from meshplane.model.policy.tracing import Tracing

COLLECTOR_CLUSTER = "meshplane_otel_collector"
PROVIDER = "envoy.tracers.opentelemetry"
_HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


def service_name(section: Tracing, proxy: ProxyId) -> str:
    """The spans' `service.name`: the section's, else `<mesh>/<node or gateway>` as X-Ray names segments."""
    return section.service_name or f"{proxy.mesh}/{proxy.name}"


def hcm_tracing(section: Tracing, proxy: ProxyId) -> hcm.HttpConnectionManager.Tracing:
    """Tracing on a connection manager with the OpenTelemetry provider and the section's sampling."""
    config = opentelemetry_pb2.OpenTelemetryConfig(
        grpc_service=grpc_service_pb2.GrpcService(
            envoy_grpc=grpc_service_pb2.GrpcService.EnvoyGrpc(
                cluster_name=COLLECTOR_CLUSTER, authority=section.collector.hostname
            ),
            timeout=seconds(1),
        ),
        service_name=service_name(section, proxy),
    )
    out = hcm.HttpConnectionManager.Tracing(
        provider=http_tracer_pb2.Tracing.Http(name=PROVIDER, typed_config=typed(config))
    )
    out.random_sampling.value = section.sampling_percent
    return out


@functools.cache
def _http2_options() -> http_protocol_options_pb2.HttpProtocolOptions:
    return http_protocol_options_pb2.HttpProtocolOptions(
        explicit_http_config=http_protocol_options_pb2.HttpProtocolOptions.ExplicitHttpConfig(
            http2_protocol_options=protocol_pb2.Http2ProtocolOptions()
        )
    )


def collector_cluster(section: Tracing) -> Cluster:
    """The OTLP collector, by name or address (STRICT_DNS takes both), over HTTP/2 as gRPC needs."""
    cluster = Cluster(name=COLLECTOR_CLUSTER, type=Cluster.STRICT_DNS, connect_timeout=seconds(1))
    cluster.load_assignment.cluster_name = COLLECTOR_CLUSTER
    lb = cluster.load_assignment.endpoints.add().lb_endpoints.add()
    lb.endpoint.address.CopyFrom(address(section.collector.hostname, section.collector.port))
    cluster.typed_extension_protocol_options[_HTTP_OPTIONS].CopyFrom(typed(_http2_options()))
    return cluster


def clusters(view: ProxyView) -> dict[str, Cluster]:
    """`{COLLECTOR_CLUSTER: cluster}` when the proxy traces to a collector, else nothing."""
    section = view.policies.tracing
    return {} if section is None else {COLLECTOR_CLUSTER: collector_cluster(section)}
