"""The resolved, Envoy-free view of one proxy: what it listens on and where it may send.

Plain frozen data, like Contour's dag: the translator turns it into protos, the
dependency index reads it, and nothing here knows about Envoy types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from meshplane.graph.extensions import Balancing, Fault
from meshplane.model import shapes
from meshplane.model.ids import ProxyId
from meshplane.model.policy.applied import NO_SECTIONS, Sections

Protocol = Literal["http", "http2", "grpc", "tcp"]
HTTP_FAMILY: frozenset[str] = frozenset({"http", "http2", "grpc"})

# Written as strings, like every annotation here, so importing the view loads no shape module.
ClientTls: TypeAlias = "shapes.ClientPolicyTls | shapes.VirtualGatewayClientPolicyTls"
ListenerTls: TypeAlias = "shapes.ListenerTls | shapes.VirtualGatewayListenerTls"
HealthCheck: TypeAlias = "shapes.HealthCheckPolicy | shapes.VirtualGatewayHealthCheckPolicy"
ConnectionPool: TypeAlias = "shapes.VirtualNodeConnectionPool | shapes.VirtualGatewayConnectionPool"


@dataclass(frozen=True)
class Upstream:
    """One listener of a backend virtual node, as the calling proxy reaches it."""

    cluster: str
    node: str
    port: int
    protocol: Protocol
    discovery: shapes.ServiceDiscovery | None
    ip_preference: str | None
    health_check: shapes.HealthCheckPolicy | None
    outlier_detection: shapes.OutlierDetection | None
    tls: ClientTls | None
    balancing: Balancing | None = None
    # The backend node's policy sections its callers apply (graph.policies.UPSTREAM).
    policies: Sections = NO_SECTIONS


@dataclass(frozen=True)
class Target:
    """A weighted share of a route's traffic."""

    cluster: str
    weight: int


@dataclass(frozen=True)
class RouteView:
    """One App Mesh route (or a provider node's implicit catch-all) with resolved targets."""

    name: str
    priority: int
    protocol: Protocol
    spec: shapes.HttpRoute | shapes.GrpcRoute | shapes.TcpRoute | None
    targets: tuple[Target, ...]
    fault: Fault | None = None
    hash_headers: tuple[str, ...] = ()
    # The route's policy sections (graph.policies.ROUTE); a mirror's virtual node as a cluster of this proxy.
    policies: Sections = NO_SECTIONS
    mirror_cluster: str | None = None


@dataclass(frozen=True)
class ServicePort:
    """A backend virtual service on one port: the unit an egress virtual host is built from."""

    service: str
    port: int
    protocol: Protocol
    routes: tuple[RouteView, ...]


@dataclass(frozen=True)
class IngressListener:
    """A listener of the proxy itself: a virtual node listener or a gateway listener."""

    port: int
    protocol: Protocol
    cluster: str
    tls: ListenerTls | None
    timeout: shapes.ListenerTimeout | None
    connection_pool: ConnectionPool | None
    app_address: str = "127.0.0.1"
    # A gateway listener's own health check: the gateway answers it for its load balancer.
    health_check: shapes.VirtualGatewayHealthCheckPolicy | None = None


@dataclass(frozen=True)
class GatewayRouteView:
    """A gateway route bound to one gateway listener, with its target service resolved."""

    name: str
    priority: int
    protocol: Protocol
    spec: shapes.HttpGatewayRoute | shapes.GrpcGatewayRoute
    service: str
    service_port: int
    policies: Sections = NO_SECTIONS  # graph.policies.GATEWAY_ROUTE


@dataclass(frozen=True)
class ProxyView:
    """Everything one proxy needs, resolved and sorted, without any Envoy type."""

    proxy: ProxyId
    listeners: tuple[IngressListener, ...]
    services: tuple[ServicePort, ...]
    upstreams: tuple[Upstream, ...]
    allow_all: bool
    access_log: shapes.FileAccessLog | shapes.VirtualGatewayFileAccessLog | None
    gateway_routes: tuple[GatewayRouteView, ...] = ()
    problems: tuple[str, ...] = field(default=())
    # The proxy's own sections, its node's or gateway's over the mesh's (graph.policies.PROXY).
    policies: Sections = NO_SECTIONS

    @property
    def is_gateway(self) -> bool:
        return self.proxy.is_gateway
