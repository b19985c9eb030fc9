"""Render one snapshot as a self-contained static Envoy bootstrap.

Used by `envoy --mode validate` and by tests that run real Envoys without a control
plane: EDS becomes static load assignments, RDS inline route configs, ADS secrets
static secrets (`snapshot.transform.self_contained`).  `bind_address` moves a proxy onto
its own loopback address (`snapshot.transform.bind_to`).
"""

from __future__ import annotations

import contextlib

from envoy.config.bootstrap.v3 import bootstrap_pb2
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import address_pb2, protocol_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2

from meshplane.graph import names
from meshplane.model.ids import ProxyId
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.transform import bind_to, self_contained
from meshplane.translate import observability
from meshplane.translate.core import address, seconds
from meshplane.translate.policy import zone_aware as policy_zone_aware
from meshplane.translate.tls import LOCAL_SDS_CLUSTER

DEFAULT_SDS_SOCKET = "/tmp/meshplane-sds.sock"
_LOOPBACK = "127.0.0.1"


def _local_sds_cluster(path: str) -> cluster_pb2.Cluster:
    cluster = cluster_pb2.Cluster(name=LOCAL_SDS_CLUSTER, type=cluster_pb2.Cluster.STATIC, connect_timeout=seconds(1))
    lb = cluster.load_assignment.endpoints.add().lb_endpoints.add()
    lb.endpoint.address.CopyFrom(address_pb2.Address(pipe=address_pb2.Pipe(path=path)))
    cluster.load_assignment.cluster_name = LOCAL_SDS_CLUSTER
    cluster.http2_protocol_options.CopyFrom(protocol_pb2.Http2ProtocolOptions())
    return cluster


def _port_listeners(boot: bootstrap_pb2.Bootstrap, bind: str) -> list[listener_pb2.Listener]:
    egress = next((li for li in boot.static_resources.listeners if li.name == names.egress_listener()), None)
    if egress is None:
        return []
    taken = {names.INGRESS_PORT, names.EGRESS_PORT} | {
        lb.endpoint.address.socket_address.port_value
        for c in boot.static_resources.clusters
        if names.is_ingress_cluster(c.name)
        for locality in c.load_assignment.endpoints
        for lb in locality.lb_endpoints
    }
    out = []
    for chain in egress.filter_chains:
        port = chain.filter_chain_match.destination_port.value
        if not port or port in taken:
            continue
        taken.add(port)
        direct = listener_components_pb2.FilterChain()
        direct.CopyFrom(chain)
        direct.ClearField("filter_chain_match")
        out.append(
            listener_pb2.Listener(
                name=names.egress_port_listener(bind, port), address=address(bind, port), filter_chains=[direct]
            )
        )
    return out


def inline_bootstrap(
    snapshot: Snapshot,
    *,
    admin_address: str = _LOOPBACK,
    admin_port: int = 0,
    bind_address: str | None = None,
    node_id: str | None = None,
    sds_socket: str = DEFAULT_SDS_SOCKET,
    egress_port_listeners: bool = False,
    zone: str | None = None,
) -> bootstrap_pb2.Bootstrap:
    """`egress_port_listeners` stands in for iptables on hosts without it: each per-port egress
    chain (TCP backends in particular, which have no Host header) also gets its own listener on
    `<bind_address>:<port>`, so an app reaches a backend port on its own address.  `zone` is the
    instance's availability zone (`node.locality.zone`), which zone-aware routing starts from."""
    boot = bootstrap_pb2.Bootstrap()
    boot.node.id = node_id or snapshot.node_id
    boot.node.cluster = boot.node.id
    boot.admin.address.socket_address.address = admin_address
    boot.admin.address.socket_address.port_value = admin_port
    with contextlib.suppress(ValueError):  # a free-form node id simply gets no App Mesh tags
        boot.stats_config.CopyFrom(observability.stats_config(ProxyId.parse(boot.node.id)))
    if bind_address is not None:
        snapshot = bind_to(snapshot, bind_address)
    if zone:
        boot.node.locality.zone = zone
    local_sds = self_contained(snapshot, boot.static_resources)
    policy_zone_aware.inline_local_cluster(boot, snapshot)
    if egress_port_listeners:
        boot.static_resources.listeners.extend(_port_listeners(boot, bind_address or _LOOPBACK))
    if local_sds:
        boot.static_resources.clusters.append(_local_sds_cluster(sds_socket))
    return boot
