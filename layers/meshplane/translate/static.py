"""Render one snapshot as a self-contained static Envoy bootstrap.

Used by `envoy --mode validate` and by tests that run real Envoys without a control
plane: EDS becomes static load assignments, RDS inline route configs, ADS secrets
static secrets.  `bind_address` moves a proxy onto its own loopback address.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping

from envoy.config.bootstrap.v3 import bootstrap_pb2
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import address_pb2, protocol_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2, tls_pb2
from google.protobuf.message import Message

from meshplane.graph import names
from meshplane.model.ids import ProxyId
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.types import XdsType
from meshplane.translate import observability
from meshplane.translate.core import address, seconds, typed
from meshplane.translate.tls import LOCAL_SDS_CLUSTER

DEFAULT_SDS_SOCKET = "/tmp/meshplane-sds.sock"
_LOOPBACK = "127.0.0.1"


def _secret_refs(context: tls_pb2.CommonTlsContext) -> Iterable[secret_pb2.SdsSecretConfig]:
    yield from context.tls_certificate_sds_secret_configs
    if context.HasField("combined_validation_context"):
        yield context.combined_validation_context.validation_context_sds_secret_config
    if context.HasField("validation_context_sds_secret_config"):
        yield context.validation_context_sds_secret_config


def _localise_tls(holder: Message, kind: type[Message]) -> bool:
    """Point ADS-sourced secret references at static secrets; report local-SDS use."""
    if not holder.HasField("transport_socket"):  # type: ignore[attr-defined]
        return False
    socket = holder.transport_socket  # type: ignore[attr-defined]
    context = kind()
    socket.typed_config.Unpack(context)
    uses_local = False
    for ref in _secret_refs(context.common_tls_context):  # type: ignore[attr-defined]
        if ref.sds_config.HasField("ads"):
            ref.ClearField("sds_config")
        else:
            uses_local = True
    socket.typed_config.CopyFrom(typed(context))
    return uses_local


def _inline_routes(chain: listener_components_pb2.FilterChain, routes: Mapping[str, Message]) -> None:
    for network in chain.filters:
        if not network.typed_config.Is(hcm.HttpConnectionManager.DESCRIPTOR):
            continue
        manager = hcm.HttpConnectionManager()
        network.typed_config.Unpack(manager)
        if manager.HasField("rds"):
            config = routes.get(manager.rds.route_config_name) or route_pb2.RouteConfiguration(
                name=manager.rds.route_config_name
            )
            manager.route_config.CopyFrom(config)
        network.typed_config.CopyFrom(typed(manager))


def _static_cluster(cluster: cluster_pb2.Cluster, loads: Mapping[str, Message], bind: str | None) -> bool:
    if cluster.type == cluster_pb2.Cluster.EDS:
        name = cluster.eds_cluster_config.service_name or cluster.name
        cluster.ClearField("eds_cluster_config")
        cluster.type = cluster_pb2.Cluster.STATIC
        cluster.load_assignment.CopyFrom(loads.get(name) or endpoint_pb2.ClusterLoadAssignment())
        cluster.load_assignment.cluster_name = cluster.name
    elif cluster.type == cluster_pb2.Cluster.STATIC and bind is not None:
        for locality in cluster.load_assignment.endpoints:
            for lb in locality.lb_endpoints:
                sock = lb.endpoint.address.socket_address
                if sock.address in (_LOOPBACK, "::1"):
                    sock.address = bind
    return _localise_tls(cluster, tls_pb2.UpstreamTlsContext)


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
        if c.name.startswith("cds_ingress_")
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
            listener_pb2.Listener(name=f"lds_egress_{bind}_{port}", address=address(bind, port), filter_chains=[direct])
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
) -> bootstrap_pb2.Bootstrap:
    """`egress_port_listeners` stands in for iptables on hosts without it: each per-port egress
    chain (TCP backends in particular, which have no Host header) also gets its own listener on
    `<bind_address>:<port>`, so an app reaches a backend port on its own address."""
    boot = bootstrap_pb2.Bootstrap()
    boot.node.id = node_id or snapshot.node_id
    boot.node.cluster = boot.node.id
    boot.admin.address.socket_address.address = admin_address
    boot.admin.address.socket_address.port_value = admin_port
    with contextlib.suppress(ValueError):  # a free-form node id simply gets no App Mesh tags
        boot.stats_config.CopyFrom(observability.stats_config(ProxyId.parse(boot.node.id)))
    loads = snapshot.of(XdsType.ENDPOINTS)
    routes = snapshot.of(XdsType.ROUTES)
    needs_local_sds = False
    for _, cluster in sorted(snapshot.of(XdsType.CLUSTERS).items()):
        copy = boot.static_resources.clusters.add()
        copy.CopyFrom(cluster)
        needs_local_sds |= _static_cluster(copy, loads, bind_address)
    for _, listener in sorted(snapshot.of(XdsType.LISTENERS).items()):
        copy = boot.static_resources.listeners.add()
        copy.CopyFrom(listener)
        if bind_address is not None:
            copy.address.socket_address.address = bind_address
        chains = list(copy.filter_chains) + (
            [copy.default_filter_chain] if copy.HasField("default_filter_chain") else []
        )
        for chain in chains:
            _inline_routes(chain, routes)
            needs_local_sds |= _localise_tls(chain, tls_pb2.DownstreamTlsContext)
    if egress_port_listeners:
        boot.static_resources.listeners.extend(_port_listeners(boot, bind_address or _LOOPBACK))
    for _, secret in sorted(snapshot.of(XdsType.SECRETS).items()):
        boot.static_resources.secrets.add().CopyFrom(secret)
    if needs_local_sds:
        boot.static_resources.clusters.append(_local_sds_cluster(sds_socket))
    return boot
