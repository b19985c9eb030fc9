"""The resolved, Envoy-free view of one proxy: what it listens on and where it may send.

Plain frozen data, like Contour's dag: the translator turns it into protos, the
dependency index reads it, and nothing here knows about Envoy types.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeAlias, TypeVar

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


T = TypeVar("T")


class _once(Generic[T]):  # a decorator, named like the one it stands in for
    """`functools.cached_property` without the lock Python 3.11 takes on each first read: a whole mesh
    reads a few per view of thousands.  Two threads reading one view at once compute the same value."""

    def __init__(self, compute: Callable[[Any], T]) -> None:
        self._compute = compute
        self._name = compute.__name__
        self.__doc__ = compute.__doc__

    def __get__(self, view: object, owner: type | None = None) -> T:
        if view is None:  # read on the class
            return self  # type: ignore[return-value]
        value = view.__dict__[self._name] = self._compute(view)  # read from the dict from now on
        return value


def _filled_directly(cls: type[T]) -> type[T]:
    """Give a frozen dataclass an `__init__` that fills the instance itself.

    The generated one sets each field through `object.__setattr__` (frozen forbids plain
    assignment), which costs about twice as much; the resolver makes several of these per
    backend of every proxy.  A slotted class's fields are set through their slots' own
    descriptors, any other's are written into its dict.  Same signature and defaults; equality,
    hashing, `replace` and `fields` are the dataclass's own.  Fields declared `init=False` are
    derived from the others: the class's `_derived(self)` gives them, once the others are filled."""
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]  # applied to dataclasses only
    given = [f for f in fields if f.init]
    defaults = {f"_default_{f.name}": f.default for f in given if f.default is not dataclasses.MISSING}
    if any(f.default_factory is not dataclasses.MISSING for f in fields):
        raise TypeError(f"{cls.__name__}: only plain fields with plain defaults are filled directly")
    derived = [f.name for f in fields if not f.init]
    if derived and not hasattr(cls, "_derived"):
        raise TypeError(f"{cls.__name__}: fields not given to __init__ need a _derived method")
    params = ", ".join(f.name + (f"=_default_{f.name}" if f"_default_{f.name}" in defaults else "") for f in given)
    namespace: dict[str, Any] = dict(defaults)
    lines = [f"def __init__(self, {params}):"]
    if "__slots__" in cls.__dict__:
        namespace.update({f"_set_{f.name}": cls.__dict__[f.name].__set__ for f in fields})
        lines += [f"    _set_{name}(self, {name})" for name in (f.name for f in given)]
        if derived:
            lines.append("    derived = self._derived()")
            lines += [f"    _set_{name}(self, derived[{name!r}])" for name in derived]
    else:
        lines.append("    filled = self.__dict__")
        lines += [f"    filled[{f.name!r}] = {f.name}" for f in given]
        if derived:
            lines.append("    filled.update(self._derived())")
    exec("\n".join(lines), namespace)  # code built above from the class's own field names
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init  # type: ignore[method-assign]  # the same signature as the generated one
    return cls


@_filled_directly
@dataclass(frozen=True, slots=True)
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
    # Read from `discovery` once, when the upstream is built: the translator's passes over thousands of
    # upstreams then find them here, not in the node's discovery shapes, far apart in memory.
    uses_endpoints: bool = field(init=False)  # its instances come by EDS (Cloud Map or registered), not DNS
    attribute_filter: tuple[tuple[str, str], ...] = field(init=False)  # Cloud Map attributes instances must match

    def _derived(self) -> dict[str, object]:
        sd = self.discovery
        cloud_map = sd.aws_cloud_map if sd is not None else None
        wanted = cloud_map.attributes if cloud_map is not None else None
        return {
            "uses_endpoints": sd is None or sd.dns is None,
            "attribute_filter": tuple((a.key, a.value) for a in wanted) if wanted else (),
        }


@_filled_directly
@dataclass(frozen=True, slots=True)
class Target:
    """A weighted share of a route's traffic."""

    cluster: str
    weight: int


@_filled_directly
@dataclass(frozen=True, slots=True)
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


@_filled_directly
@dataclass(frozen=True, slots=True)
class ServicePort:
    """A backend virtual service on one port: the unit an egress virtual host is built from."""

    service: str
    port: int
    protocol: Protocol
    routes: tuple[RouteView, ...]


@_filled_directly
@dataclass(frozen=True, slots=True)
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


@_filled_directly
@dataclass(frozen=True, slots=True)
class GatewayRouteView:
    """A gateway route bound to one gateway listener, with its target service resolved."""

    name: str
    priority: int
    protocol: Protocol
    spec: shapes.HttpGatewayRoute | shapes.GrpcGatewayRoute
    service: str
    service_port: int
    policies: Sections = NO_SECTIONS  # graph.policies.GATEWAY_ROUTE


@_filled_directly
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

    is_gateway: bool = field(init=False)  # the proxy's, asked by every pass of a translation

    def _derived(self) -> dict[str, object]:
        return {"is_gateway": self.proxy.is_gateway}

    # The scans below are asked by several parts of one translation (each connection manager, each
    # listener and route config); a proxy with 10,000 backends would walk its services each time.
    @_once
    def http_groups(self) -> dict[int, tuple[ServicePort, ...]]:
        """HTTP-family backend services grouped by port, in service order (callers must not mutate it)."""
        groups: dict[int, list[ServicePort]] = {}
        for sp in self.services:
            if sp.protocol in HTTP_FAMILY:
                groups.setdefault(sp.port, []).append(sp)
        return {port: tuple(services) for port, services in groups.items()}

    @_once
    def tcp_chains(self) -> tuple[ServicePort, ...]:
        """TCP backends that get an egress chain of their own: the first, with routes, on each port
        that no HTTP-family service holds (`graph.build.port_clashes` names the others)."""
        claimed = set(self.http_groups)
        out = []
        for service in self.services:
            if service.protocol == "tcp" and service.routes and service.port not in claimed:
                claimed.add(service.port)
                out.append(service)
        return tuple(out)

    @_once
    def zone_aware(self) -> bool:
        """Whether any upstream is under a zone-aware policy section (the proxy then routes by zone)."""
        return any(u.policies.zone_aware is not None for u in self.upstreams)

    @_once
    def injects_faults(self) -> bool:
        """Whether a route to any backend injects faults (the connection managers then carry the filter)."""
        return any(route.fault is not None for service in self.services for route in service.routes)
