"""Hand-made snapshots for protocol tests: a few named resources of each type, secrets included."""

from __future__ import annotations

from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.config.endpoint.v3.endpoint_pb2 import ClusterLoadAssignment
from envoy.config.listener.v3.listener_pb2 import Listener
from envoy.config.route.v3.route_pb2 import RouteConfiguration
from envoy.extensions.transport_sockets.tls.v3.secret_pb2 import Secret
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.types import XdsType


def assignment(name: str, *addresses: str) -> ClusterLoadAssignment:
    cla = ClusterLoadAssignment(cluster_name=name)
    group = cla.endpoints.add()
    for address in addresses:
        socket = group.lb_endpoints.add().endpoint.address.socket_address
        socket.address, socket.port_value = address, 8080
    return cla


def listener(name: str, address: str = "0.0.0.0", port: int = 15000) -> Listener:
    out = Listener(name=name)
    out.address.socket_address.address, out.address.socket_address.port_value = address, port
    return out


def snapshot(node_id: str, tag: str, *, endpoints: tuple[str, ...] = ("10.0.0.1",), route_version: int = 1) -> Snapshot:
    """Two EDS clusters, two listeners, two route configs and a secret, all named after `tag`."""
    clusters = {f"cds_{tag}_{i}": Cluster(name=f"cds_{tag}_{i}", type=Cluster.EDS) for i in (1, 2)}
    loads = {name: assignment(name, *endpoints) for name in clusters}
    listeners = {f"lds_{tag}_{p}": listener(f"lds_{tag}_{p}", port=p) for p in (15000, 15001)}
    routes = {
        f"rds_{tag}_{i}": RouteConfiguration(name=f"rds_{tag}_{i}", validate_clusters={"value": route_version > 1})
        for i in (1, 2)
    }
    secret = Secret(name=f"secret_{tag}")
    secret.tls_certificate.private_key.inline_string = f"PRIVATE KEY OF {tag}"
    return Snapshot.build(
        node_id,
        {
            XdsType.CLUSTERS: clusters,
            XdsType.ENDPOINTS: loads,
            XdsType.LISTENERS: listeners,
            XdsType.ROUTES: routes,
            XdsType.SECRETS: {secret.name: secret},
        },
    )
