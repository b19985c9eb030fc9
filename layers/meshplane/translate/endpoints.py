"""EDS: one ClusterLoadAssignment per EDS egress cluster, from the discovered endpoints."""

from __future__ import annotations

from collections.abc import Mapping

from envoy.config.core.v3 import health_check_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2

from meshplane.graph.view import ProxyView, Upstream
from meshplane.model.state import Endpoint

_HEALTH = {True: health_check_pb2.HEALTHY, False: health_check_pb2.UNHEALTHY}


def _matches(endpoint: Endpoint, upstream: Upstream) -> bool:
    """Cloud Map attribute filters: every attribute must match, as App Mesh documents."""
    sd = upstream.discovery
    if sd is None or sd.aws_cloud_map is None or not sd.aws_cloud_map.attributes:
        return True
    return all(endpoint.attributes.get(a.key) == a.value for a in sd.aws_cloud_map.attributes)


def assignment(upstream: Upstream, endpoints: tuple[Endpoint, ...]) -> endpoint_pb2.ClusterLoadAssignment:
    """Endpoints grouped by zone; each carries its address, port (or the listener's) and health."""
    out = endpoint_pb2.ClusterLoadAssignment(cluster_name=upstream.cluster)
    hc_port = upstream.health_check.port if upstream.health_check is not None else None
    localities: dict[str, endpoint_components_pb2.LocalityLbEndpoints] = {}
    ordered = sorted(endpoints, key=lambda e: (e.zone or "", e.address, e.port or 0, e.instance_id))
    for ep in ordered:
        if not _matches(ep, upstream):
            continue
        zone = ep.zone or ""
        locality = localities.get(zone)
        if locality is None:
            locality = localities[zone] = out.endpoints.add()
            if zone:
                locality.locality.zone = zone
        lb = locality.lb_endpoints.add(health_status=_HEALTH[ep.healthy])
        sock = lb.endpoint.address.socket_address
        sock.address = ep.address
        sock.port_value = ep.port or upstream.port
        if hc_port is not None and ep.port is None:
            lb.endpoint.health_check_config.port_value = hc_port
    return out


def endpoints(
    view: ProxyView, discovered: Mapping[str, tuple[Endpoint, ...]]
) -> dict[str, endpoint_pb2.ClusterLoadAssignment]:
    return {
        u.cluster: assignment(u, discovered.get(u.node, ()))
        for u in view.upstreams
        if u.discovery is None or u.discovery.dns is None
    }
