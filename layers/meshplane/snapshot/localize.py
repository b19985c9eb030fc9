"""Bind one proxy's snapshot to a loopback address so several sidecars share one host.

On ECS every task has its own network namespace and Envoy listens on 0.0.0.0.
Locally (and in tests) many sidecars share 127.0.0.1's host, so each gets its own
127.x address: its listeners bind there and its ingress cluster points at the app
listening there.  Resource names are kept, App Mesh's `lds_ingress_0.0.0.0_15000` too.
"""

from __future__ import annotations

from collections.abc import Iterable

from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.config.core.v3.address_pb2 import Address
from envoy.config.endpoint.v3.endpoint_pb2 import ClusterLoadAssignment
from envoy.config.listener.v3.listener_pb2 import Listener
from google.protobuf.message import Message

from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.types import XdsType

ANY_ADDRESS = "0.0.0.0"
LOOPBACK = "127.0.0.1"
INGRESS_CLUSTER_PREFIX = "cds_ingress_"


def _rebind(address: Address, old: str, new: str) -> None:
    if address.HasField("socket_address") and address.socket_address.address == old:
        address.socket_address.address = new


def _listener(listener: Listener, address: str) -> Listener:
    out = Listener()
    out.CopyFrom(listener)
    _rebind(out.address, ANY_ADDRESS, address)
    for extra in out.additional_addresses:
        _rebind(extra.address, ANY_ADDRESS, address)
    return out


def _assignment_addresses(assignment: ClusterLoadAssignment) -> Iterable[Address]:
    for locality in assignment.endpoints:
        for lb_endpoint in locality.lb_endpoints:
            yield lb_endpoint.endpoint.address


def _assignment(assignment: ClusterLoadAssignment, address: str) -> ClusterLoadAssignment:
    out = ClusterLoadAssignment()
    out.CopyFrom(assignment)
    for endpoint_address in _assignment_addresses(out):
        _rebind(endpoint_address, LOOPBACK, address)
    return out


def _cluster(cluster: Cluster, address: str) -> Cluster:
    out = Cluster()
    out.CopyFrom(cluster)
    if out.HasField("load_assignment"):
        for endpoint_address in _assignment_addresses(out.load_assignment):
            _rebind(endpoint_address, LOOPBACK, address)
    return out


def _is_ingress(name: str) -> bool:
    return name.startswith(INGRESS_CLUSTER_PREFIX)


def bind_to(snapshot: Snapshot, address: str) -> Snapshot:
    """A copy of `snapshot` whose listeners and local-app endpoints use `address`."""
    resources: dict[XdsType, dict[str, Message]] = {kind: dict(snapshot.of(kind)) for kind in XdsType}
    resources[XdsType.LISTENERS] = {n: _listener(m, address) for n, m in snapshot.of(XdsType.LISTENERS).items()}
    for name, cluster in snapshot.of(XdsType.CLUSTERS).items():
        if _is_ingress(name):
            resources[XdsType.CLUSTERS][name] = _cluster(cluster, address)
    for name, assignment in snapshot.of(XdsType.ENDPOINTS).items():
        if _is_ingress(name):
            resources[XdsType.ENDPOINTS][name] = _assignment(assignment, address)
    return Snapshot.build(snapshot.node_id, resources)
