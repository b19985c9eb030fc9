"""X-Ray tracing and App Mesh stats tags.  Both are bootstrap-level in Envoy: the bootstrap
engineer calls these; HCMs carry the per-listener tracing provider."""

from __future__ import annotations

from envoy.config.core.v3 import address_pb2
from envoy.config.metrics.v3 import stats_pb2
from envoy.config.trace.v3 import http_tracer_pb2, xray_pb2
from envoy.type.v3 import percent_pb2

from meshplane.model.ids import ProxyId
from meshplane.translate.core import typed

XRAY_ADDRESS = "127.0.0.1"
XRAY_PORT = 2000
XRAY_SAMPLING = 0.05


def stats_tags(proxy: ProxyId) -> list[stats_pb2.TagSpecifier]:
    """`appmesh.mesh` plus `appmesh.virtual_node` or `appmesh.virtual_gateway`, as fixed tags."""
    kind = "appmesh.virtual_gateway" if proxy.is_gateway else "appmesh.virtual_node"
    return [
        stats_pb2.TagSpecifier(tag_name="appmesh.mesh", fixed_value=proxy.mesh),
        stats_pb2.TagSpecifier(tag_name=kind, fixed_value=proxy.name),
    ]


def stats_config(proxy: ProxyId) -> stats_pb2.StatsConfig:
    return stats_pb2.StatsConfig(stats_tags=stats_tags(proxy))


def xray_provider(proxy: ProxyId, address: str = XRAY_ADDRESS, port: int = XRAY_PORT) -> http_tracer_pb2.Tracing.Http:
    """The X-Ray tracer, segment `mesh/resource`, reporting over UDP to the local daemon."""
    config = xray_pb2.XRayConfig(
        daemon_endpoint=address_pb2.SocketAddress(
            protocol=address_pb2.SocketAddress.UDP, address=address, port_value=port
        ),
        segment_name=f"{proxy.mesh}/{proxy.name}",
    )
    return http_tracer_pb2.Tracing.Http(name="envoy.tracers.xray", typed_config=typed(config))


def xray_tracing(proxy: ProxyId, address: str = XRAY_ADDRESS, port: int = XRAY_PORT) -> http_tracer_pb2.Tracing:
    return http_tracer_pb2.Tracing(http=xray_provider(proxy, address, port))


def sampling(rate: float = XRAY_SAMPLING) -> percent_pb2.Percent:
    return percent_pb2.Percent(value=rate * 100)
