"""Rewrites and queries of a snapshot's resources, on the one descriptor walker (`snapshot.walk`).

- `bind_to` moves a proxy onto its own loopback address, so several sidecars share one host
  (local runs and tests);
- `with_sources` points the ADS config sources at other sources (file mode: one file per resource);
- `self_contained` fills a static bootstrap with resources that need no xDS server (`translate.static`);
- `ads_secret_refs` and `route_names` say what clusters and listeners reference
  (the consistency check, the ACM export).

Every rewrite works on copies: a snapshot's messages are shared and never change.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.config.core.v3.address_pb2 import Address
from envoy.config.core.v3.config_source_pb2 import ConfigSource
from envoy.config.endpoint.v3.endpoint_pb2 import ClusterLoadAssignment
from envoy.config.listener.v3.listener_pb2 import Listener
from envoy.config.route.v3.route_pb2 import RouteConfiguration
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2, tls_pb2
from google.protobuf.message import Message

from meshplane.snapshot.snapshot import Resources, Snapshot
from meshplane.snapshot.types import XdsType
from meshplane.snapshot.walk import walk

if TYPE_CHECKING:  # only `translate.static` builds bootstraps; delivery never loads the bootstrap protos
    from envoy.config.bootstrap.v3 import bootstrap_pb2

ANY_ADDRESS = "0.0.0.0"
LOOPBACKS = frozenset({"127.0.0.1", "::1"})

_TLS = frozenset({tls_pb2.CommonTlsContext.DESCRIPTOR.full_name})
_RDS = frozenset({hcm.Rds.DESCRIPTOR.full_name})
_HCM = hcm.HttpConnectionManager.DESCRIPTOR.full_name

# A message holding an ADS config source -> (that field, the type it serves, the field naming the resource).
_SOURCES: dict[str, tuple[str, XdsType, str]] = {
    hcm.Rds.DESCRIPTOR.full_name: ("config_source", XdsType.ROUTES, "route_config_name"),
    Cluster.EdsClusterConfig.DESCRIPTOR.full_name: ("eds_config", XdsType.ENDPOINTS, "service_name"),
    secret_pb2.SdsSecretConfig.DESCRIPTOR.full_name: ("sds_config", XdsType.SECRETS, "name"),
}

SourceFor = Callable[[XdsType, str], ConfigSource]
"""The config source that replaces ADS for one resource, by type and name."""


def _copy(message: Message) -> Message:
    out = type(message)()
    out.CopyFrom(message)
    return out


def _replaced(snapshot: Snapshot, changed: Mapping[XdsType, Resources]) -> Snapshot:
    """`snapshot` with the `changed` types replaced: only those are hashed again."""
    fresh = Snapshot.build(snapshot.node_id, changed)
    resources = {kind: (fresh if kind in changed else snapshot).of(kind) for kind in XdsType}
    versions = {kind: (fresh if kind in changed else snapshot).versions[kind] for kind in XdsType}
    return Snapshot(snapshot.node_id, MappingProxyType(resources), MappingProxyType(versions))


# --- loopback rebind ---------------------------------------------------------------------------


def _rebind(address: Address, old: Container[str], new: str) -> None:
    if address.HasField("socket_address") and address.socket_address.address in old:
        address.socket_address.address = new


def _bound_listener(listener: Listener, address: str) -> Listener:
    out = Listener()
    out.CopyFrom(listener)
    _rebind(out.address, (ANY_ADDRESS,), address)
    for extra in out.additional_addresses:
        _rebind(extra.address, (ANY_ADDRESS,), address)
    return out


def _assignment_addresses(assignment: ClusterLoadAssignment) -> Iterator[Address]:
    for locality in assignment.endpoints:
        for lb_endpoint in locality.lb_endpoints:
            yield lb_endpoint.endpoint.address


def _is_local(cluster: Cluster) -> bool:
    """The proxy's own app (a gateway's own listener): the translator makes those static, on loopback."""
    return cluster.type == Cluster.STATIC and any(
        a.socket_address.address in LOOPBACKS for a in _assignment_addresses(cluster.load_assignment)
    )


def _bound_cluster(cluster: Cluster, address: str) -> Cluster:
    out = Cluster()
    out.CopyFrom(cluster)
    for endpoint_address in _assignment_addresses(out.load_assignment):
        _rebind(endpoint_address, LOOPBACKS, address)
    return out


def bind_to(snapshot: Snapshot, address: str) -> Snapshot:
    """A copy whose listeners on every interface and whose local-app clusters use `address`.

    Resource names are kept, App Mesh's `lds_ingress_0.0.0.0_15000` too.  Only listeners and
    clusters are rebuilt (and hashed again); the other types are the snapshot's own.
    """
    listeners = {n: _bound_listener(m, address) for n, m in snapshot.of(XdsType.LISTENERS).items()}
    clusters: dict[str, Message] = dict(snapshot.of(XdsType.CLUSTERS))
    for name, cluster in clusters.items():
        if _is_local(cluster):
            clusters[name] = _bound_cluster(cluster, address)
    return _replaced(snapshot, {XdsType.LISTENERS: listeners, XdsType.CLUSTERS: clusters})


# --- config sources ----------------------------------------------------------------------------


def with_sources(snapshot: Snapshot, source_for: SourceFor) -> Snapshot:
    """A copy whose ADS-delivered RDS, EDS and SDS references read `source_for(type, name)` instead."""

    def visit(holder: Message) -> bool:
        field, kind, name_field = _SOURCES[holder.DESCRIPTOR.full_name]
        name = getattr(holder, name_field)
        if not name or not holder.HasField(field) or not getattr(holder, field).HasField("ads"):
            return False  # an EDS config without service_name: the cluster knows its name (below)
        getattr(holder, field).CopyFrom(source_for(kind, name))
        return True

    wanted = frozenset(_SOURCES)
    resources: dict[XdsType, dict[str, Message]] = {}
    for kind in XdsType:
        copies = resources[kind] = {}
        for name, message in snapshot.of(kind).items():
            copy = copies[name] = _copy(message)
            walk(copy, wanted, visit)
            if kind is XdsType.CLUSTERS:
                _eds_by_cluster_name(copy, source_for)
    return Snapshot.build(snapshot.node_id, resources)


def _eds_by_cluster_name(cluster: Cluster, source_for: SourceFor) -> None:
    """An EDS cluster without service_name reads the assignment named like the cluster."""
    eds = cluster.eds_cluster_config
    if cluster.HasField("eds_cluster_config") and not eds.service_name and eds.eds_config.HasField("ads"):
        eds.eds_config.CopyFrom(source_for(XdsType.ENDPOINTS, cluster.name))


# --- TLS secret references ---------------------------------------------------------------------


def tls_secret_configs(common: tls_pb2.CommonTlsContext) -> Iterator[tuple[secret_pb2.SdsSecretConfig, bool]]:
    """A TLS context's SDS secret references, each with True for a trust (validation) secret."""
    for config in common.tls_certificate_sds_secret_configs:
        yield config, False
    if common.HasField("combined_validation_context"):
        yield common.combined_validation_context.validation_context_sds_secret_config, True
    if common.HasField("validation_context_sds_secret_config"):
        yield common.validation_context_sds_secret_config, True


@dataclass(frozen=True)
class SecretRef:
    """One ADS secret reference: `validation` for trust (CA) secrets, else a certificate; `where` names the user."""

    name: str
    validation: bool
    where: str


def _secret_refs(resource: Message, where: str) -> list[SecretRef]:
    found: list[SecretRef] = []

    def visit(common: Message) -> bool:
        configs = tls_secret_configs(common)
        found.extend(SecretRef(c.name, validation, where) for c, validation in configs if c.sds_config.HasField("ads"))
        return False

    walk(resource, _TLS, visit)
    return found


def ads_secret_refs(snapshot: Snapshot) -> Iterator[SecretRef]:
    """Every ADS secret reference of the snapshot's clusters, then its listeners, in name order."""
    for name, cluster in sorted(snapshot.of(XdsType.CLUSTERS).items()):
        yield from cluster_secret_refs(name, cluster)
    for name, listener in sorted(snapshot.of(XdsType.LISTENERS).items()):
        yield from listener_secret_refs(name, listener)


def cluster_secret_refs(name: str, cluster: Cluster) -> list[SecretRef]:
    """One cluster's ADS secret references, as `ads_secret_refs` yields them."""
    if not cluster.HasField("transport_socket"):  # a cluster's TLS: the one place worth walking in thousands
        return []
    return _secret_refs(cluster.transport_socket, f"cluster {name}")


def listener_secret_refs(name: str, listener: Listener) -> list[SecretRef]:
    """One listener's ADS secret references, as `ads_secret_refs` yields them."""
    return _secret_refs(listener, f"listener {name}")


def route_names(listener: Listener) -> list[str]:
    """The route configurations the listener's connection managers read over RDS."""
    found: list[str] = []

    def visit(rds: Message) -> bool:
        found.append(rds.route_config_name)  # type: ignore[attr-defined]
        return False

    walk(listener, _RDS, visit)
    return found


# --- self-contained (static) -------------------------------------------------------------------


def self_contained(snapshot: Snapshot, into: bootstrap_pb2.Bootstrap.StaticResources) -> bool:
    """Add the snapshot's clusters, listeners and secrets to `into`, in name order, needing no xDS server:
    EDS clusters carry their assignment (STATIC), connection managers their route configuration,
    and ADS secret references name static secrets.

    Returns whether some TLS context still reads a secret from a local SDS server (not ADS).
    """
    loads, routes = snapshot.of(XdsType.ENDPOINTS), snapshot.of(XdsType.ROUTES)
    local_sds = False

    def visit(message: Message) -> bool:
        nonlocal local_sds
        if message.DESCRIPTOR.full_name == _HCM:
            return _inline_routes(message, routes)
        changed = False
        for config, _validation in tls_secret_configs(message):
            if config.sds_config.HasField("ads"):
                config.ClearField("sds_config")  # a static secret of that name
                changed = True
            else:
                local_sds = True
        return changed

    wanted = _TLS | {_HCM}
    for _, cluster in sorted(snapshot.of(XdsType.CLUSTERS).items()):
        copy = into.clusters.add()
        copy.CopyFrom(cluster)
        _static_assignment(copy, loads)
        if copy.HasField("transport_socket"):  # a cluster's TLS: the one place worth walking in thousands
            walk(copy.transport_socket, wanted, visit)
    for _, listener in sorted(snapshot.of(XdsType.LISTENERS).items()):
        copy = into.listeners.add()
        copy.CopyFrom(listener)
        walk(copy, wanted, visit)
    for _, secret in sorted(snapshot.of(XdsType.SECRETS).items()):
        into.secrets.add().CopyFrom(secret)
    return local_sds


def _static_assignment(cluster: Cluster, loads: Mapping[str, Message]) -> None:
    if cluster.type != Cluster.EDS:
        return
    name = cluster.eds_cluster_config.service_name or cluster.name
    cluster.ClearField("eds_cluster_config")
    cluster.type = Cluster.STATIC
    cluster.load_assignment.CopyFrom(loads.get(name) or ClusterLoadAssignment())
    cluster.load_assignment.cluster_name = cluster.name


def _inline_routes(manager: hcm.HttpConnectionManager, routes: Mapping[str, Message]) -> bool:
    if not manager.HasField("rds"):
        return False
    name = manager.rds.route_config_name
    manager.route_config.CopyFrom(routes.get(name) or RouteConfiguration(name=name))
    return True
