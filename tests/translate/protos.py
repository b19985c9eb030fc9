"""Small readers for assertions: unpack the typed configs inside a snapshot."""

from __future__ import annotations

from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2
from google.protobuf.message import Message
from meshplane.model.ids import Kind, ProxyId
from meshplane.model.state import MeshState
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.types import XdsType
from meshplane.translate import translate


def node(state: MeshState, name: str) -> Snapshot:
    return translate(state, ProxyId(state.name, Kind.VIRTUAL_NODE, name))


def gateway(state: MeshState, name: str) -> Snapshot:
    return translate(state, ProxyId(state.name, Kind.VIRTUAL_GATEWAY, name))


def unpack(any_message, kind: type[Message]) -> Message:
    out = kind()
    assert any_message.Unpack(out), f"not a {kind.DESCRIPTOR.full_name}"
    return out


def manager(chain: listener_components_pb2.FilterChain) -> hcm.HttpConnectionManager:
    return unpack(chain.filters[0].typed_config, hcm.HttpConnectionManager)  # type: ignore[return-value]


def tcp_proxy(chain: listener_components_pb2.FilterChain) -> tcp_proxy_pb2.TcpProxy:
    return unpack(chain.filters[0].typed_config, tcp_proxy_pb2.TcpProxy)  # type: ignore[return-value]


def listener(snapshot: Snapshot, name: str) -> listener_pb2.Listener:
    return snapshot.of(XdsType.LISTENERS)[name]  # type: ignore[return-value]


def cluster(snapshot: Snapshot, name: str):
    return snapshot.of(XdsType.CLUSTERS)[name]


def routes(snapshot: Snapshot, name: str):
    return snapshot.of(XdsType.ROUTES)[name]


def upstream_tls(cluster_message) -> tls_pb2.UpstreamTlsContext:
    return unpack(cluster_message.transport_socket.typed_config, tls_pb2.UpstreamTlsContext)  # type: ignore[return-value]


def downstream_tls(chain: listener_components_pb2.FilterChain) -> tls_pb2.DownstreamTlsContext:
    return unpack(chain.transport_socket.typed_config, tls_pb2.DownstreamTlsContext)  # type: ignore[return-value]


def vhost(route_config, name: str):
    return next(v for v in route_config.virtual_hosts if v.name == name)
