"""Envoy side of the `zoneAware` section: zone-aware load balancing on the callers' clusters.

Envoy decides per request, inside each caller, from three things: its own zone (the
bootstrap's `node.locality.zone`), the local cluster (`cluster_manager.local_cluster_name`:
how the caller's own node spreads over zones) and the callee's endpoints by zone.  It sends
everything to the caller's zone while that zone's share of healthy callee endpoints is at
least its share of caller instances, and spills the rest (all of it once the local zone has
no healthy endpoint) to the other zones.

The local cluster's assignment is sent only to a proxy that has a zone-aware upstream, so a
mesh without the policy gets the snapshots it always got.  Once it is sent, Envoy would apply
zone-aware routing (its default) to every other cluster of at least 6 endpoints too: those
are told `routing_enabled: 0`, so only the targeted nodes change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping

from envoy.config.bootstrap.v3 import bootstrap_pb2
from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.config.core.v3 import health_check_pb2
from envoy.config.endpoint.v3 import endpoint_pb2

from meshplane.graph import names
from meshplane.graph.view import ProxyView
from meshplane.model.policy.zone_aware import LOCAL_CLUSTER, ZoneAware
from meshplane.model.state import Endpoint
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.types import XdsType
from meshplane.translate.core import ads, seconds

_HEALTH = {True: health_check_pb2.HEALTHY, False: health_check_pb2.UNHEALTHY}


def wants_local(view: ProxyView) -> bool:
    """A virtual node with at least one zone-aware upstream (gateways have no instances by zone)."""
    return not view.is_gateway and view.zone_aware


def configure(cluster: Cluster, section: ZoneAware | None) -> None:
    """`section`'s thresholds on a caller cluster, or zone-aware routing off where it has none."""
    config = cluster.common_lb_config.zone_aware_lb_config
    if section is None:
        config.routing_enabled.value = 0
        return
    config.routing_enabled.value = section.routing_enabled_percent
    config.min_cluster_size.value = section.min_cluster_size


def apply(clusters: MutableMapping[str, Cluster], view: ProxyView) -> None:
    """Zone-aware settings on every egress cluster of a proxy that gets the local cluster."""
    if not wants_local(view):
        return
    for upstream in view.upstreams:
        configure(clusters[upstream.cluster], upstream.policies.zone_aware)


def local_assignment(endpoints: Iterable[Endpoint]) -> endpoint_pb2.ClusterLoadAssignment:
    """The calling node's instances, one locality per zone: Envoy reads only how they spread.

    Envoy never connects to these hosts; an instance without a port (reached on its listener
    port by callers) is listed on the sidecar's ingress port.
    """
    out = endpoint_pb2.ClusterLoadAssignment(cluster_name=LOCAL_CLUSTER)
    by_zone: dict[str, list[Endpoint]] = {}
    for ep in sorted(endpoints, key=lambda e: (e.zone or "", e.address, e.port or 0, e.instance_id)):
        by_zone.setdefault(ep.zone or "", []).append(ep)
    for zone, members in by_zone.items():
        locality = out.endpoints.add()
        if zone:
            locality.locality.zone = zone
        for ep in members:
            lb = locality.lb_endpoints.add(health_status=_HEALTH[ep.healthy])
            sock = lb.endpoint.address.socket_address
            sock.address, sock.port_value = ep.address, ep.port or names.INGRESS_PORT
    return out


def local_endpoints(
    view: ProxyView, discovered: Mapping[str, tuple[Endpoint, ...]]
) -> dict[str, endpoint_pb2.ClusterLoadAssignment]:
    """`{LOCAL_CLUSTER: assignment}` for a proxy with a zone-aware upstream, else nothing."""
    if not wants_local(view):
        return {}
    return {LOCAL_CLUSTER: local_assignment(discovered.get(view.proxy.name, ()))}


def local_cluster(assignment: endpoint_pb2.ClusterLoadAssignment | None = None) -> Cluster:
    """The bootstrap's local cluster: static with `assignment` (a self-contained bootstrap), else
    EDS over ADS, sent by the server when the proxy has a zone-aware upstream."""
    cluster = Cluster(name=LOCAL_CLUSTER, connect_timeout=seconds(1))
    if assignment is not None:
        cluster.type = Cluster.STATIC
        cluster.load_assignment.CopyFrom(assignment)
    else:
        cluster.type = Cluster.EDS
        cluster.eds_cluster_config.eds_config.CopyFrom(ads())
    return cluster


def inline_local_cluster(boot: bootstrap_pb2.Bootstrap, snapshot: Snapshot) -> None:
    """A self-contained bootstrap: the snapshot's local assignment as a static local cluster."""
    assignment = snapshot.of(XdsType.ENDPOINTS).get(LOCAL_CLUSTER)
    if assignment is None:
        return
    assert isinstance(assignment, endpoint_pb2.ClusterLoadAssignment)
    boot.static_resources.clusters.append(local_cluster(assignment))
    boot.cluster_manager.local_cluster_name = LOCAL_CLUSTER
