"""EDS: one ClusterLoadAssignment per EDS egress cluster, from the discovered endpoints."""

from __future__ import annotations

import operator
from collections.abc import Collection, Mapping

from envoy.config.endpoint.v3 import endpoint_pb2

from meshplane.graph.view import ProxyView, Upstream
from meshplane.model.policy.zone_aware import LOCAL_CLUSTER
from meshplane.model.state import Endpoint
from meshplane.snapshot.packing import wired
from meshplane.snapshot.snapshot import PackedResources
from meshplane.snapshot.types import XdsType
from meshplane.translate import eds_wire
from meshplane.translate.cache import RenderCache
from meshplane.translate.policy import zone_aware as policy_zone_aware


def _order(endpoint: Endpoint) -> tuple[str, str, int, str]:
    return (endpoint.zone or "", endpoint.address, endpoint.port or 0, endpoint.instance_id)


# `_order`'s fields as they are: the same order wherever it compares no None with a value (a zone with
# none, a port with none), which raises TypeError instead.
_by_fields = operator.attrgetter("zone", "address", "port", "instance_id")
_zone_address_health = operator.attrgetter("zone", "address", "healthy")
_port = operator.attrgetter("port")


def _sorted(endpoints: tuple[Endpoint, ...]) -> list[Endpoint]:
    """`endpoints` in `_order`, each key read in C where no field is None beside a value."""
    try:
        return sorted(endpoints, key=_by_fields)
    except TypeError:
        return sorted(endpoints, key=_order)


def assignment(upstream: Upstream, endpoints: tuple[Endpoint, ...]) -> endpoint_pb2.ClusterLoadAssignment:
    """Endpoints grouped by zone; each carries its address, port (or the listener's) and health."""
    return endpoint_pb2.ClusterLoadAssignment.FromString(assignment_bytes(upstream, endpoints))


def assignment_bytes(upstream: Upstream, endpoints: tuple[Endpoint, ...]) -> bytes:
    """`assignment`'s deterministic serialisation, written without building the message (`eds_wire`)."""
    hc_port = upstream.health_check.port if upstream.health_check is not None else None
    wanted = upstream.attribute_filter  # every attribute must match, as App Mesh documents
    if wanted:
        endpoints = tuple(e for e in endpoints if all(e.attributes.get(k) == v for k, v in wanted))
    default_port = upstream.port
    # Sorted by zone first, so each zone's endpoints are contiguous: one locality per run.
    ordered = _sorted(endpoints)
    if hc_port is None and not any(map(_port, ordered)):  # every instance on the listener's port
        return eds_wire.on_port(upstream.cluster, default_port, map(_zone_address_health, ordered))
    return eds_wire.assignment(upstream.cluster, [
        (ep.zone or "", ep.address, ep.port or default_port, ep.healthy, hc_port if ep.port is None else None)
        for ep in ordered
    ])


def _wired(upstream: Upstream, discovered: Mapping[str, tuple[Endpoint, ...]]) -> tuple[bytes, bytes]:
    """`assignment_bytes` of the upstream's node's endpoints in `discovered`, with its `Any`, which a render
    cache keeps: the endpoints are looked up only when the assignment is built, not for every caller."""
    return wired(XdsType.ENDPOINTS, assignment_bytes(upstream, discovered.get(upstream.node, ())))


def _eds(view: ProxyView) -> list[Upstream]:
    return [u for u in view.upstreams if u.uses_endpoints]


def sources(view: ProxyView) -> dict[str, str]:
    """Each assignment `endpoints` renders, by cluster: the node whose endpoints it carries."""
    out = {u.cluster: u.node for u in _eds(view)}
    if policy_zone_aware.wants_local(view):
        out[LOCAL_CLUSTER] = view.proxy.name
    return out


def endpoints(
    view: ProxyView, discovered: Mapping[str, tuple[Endpoint, ...]], cache: RenderCache | None = None,
    nodes: Collection[str] | None = None,
) -> PackedResources:
    """One assignment per EDS upstream, each written as its bytes (parsed only if someone reads it).
    With `cache` (the render cache of the state `view` was resolved from, whose endpoints
    `discovered` must be) callers of one node share its assignment.  With `nodes`, only the
    assignments that carry those nodes' endpoints (`sources`): no other node's endpoints are looked up."""
    eds = [u for u in _eds(view) if nodes is None or u.node in nodes]
    out: dict[str, endpoint_pb2.ClusterLoadAssignment | bytes | tuple[bytes, bytes]]
    if cache is None:
        out = {u.cluster: assignment_bytes(u, discovered.get(u.node, ())) for u in eds}
    else:
        out = {u.cluster: cache.value(("eds", u.cluster), _wired, u, discovered) for u in eds}
    if nodes is None or view.proxy.name in nodes:
        out.update(policy_zone_aware.local_endpoints(view, discovered))
    return PackedResources.of_parts(XdsType.ENDPOINTS, out)
