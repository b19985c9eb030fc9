"""Egress route configs written as bytes: one virtual host per backend service, thousands on a large proxy.

Deterministic serialisation writes a message's fields in field-number order, each behind its tag
(and, for messages and strings, its length), and a sub-message exactly as it serialises on its own.
So a config is its name field followed by its virtual host fields; a host is its name, its domains,
then its route fields; and a route built once without its cluster (field 1 of its action, written
first) is completed for any cluster by joining bytes.  Each is what protobuf writes for the same
message (`tests/translate/test_route_wire.py` holds them equal), without building one message per
host and per config.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3.route_pb2 import RouteConfiguration

from meshplane.snapshot.packing import delimited, varint

# Tags (field number << 3 | length-delimited) of the fields written here.
_CONFIG_NAME = b"\x0a"  # RouteConfiguration.name = 1
_CONFIG_HOST = b"\x12"  # RouteConfiguration.virtual_hosts = 2
_HOST_NAME = b"\x0a"  # VirtualHost.name = 1
_HOST_DOMAIN = b"\x12"  # VirtualHost.domains = 2
_HOST_ROUTE = b"\x1a"  # VirtualHost.routes = 3
_ROUTE_ACTION = b"\x12"  # Route.route = 2
_ACTION_CLUSTER = b"\x0a"  # RouteAction.cluster = 1


@dataclass(frozen=True)
class RouteTemplate:
    """A route whose action names no cluster yet, serialised around where the cluster goes."""

    before: bytes  # the route's fields before its action (the match)
    action: bytes  # the action's own fields, all after the cluster
    after: bytes  # the route's fields after its action (the name)

    @classmethod
    def of(cls, route: rc.Route) -> RouteTemplate:
        """Split `route` (a match, an action without a cluster, a name, nothing else)."""
        template = cls(
            rc.Route(match=route.match).SerializeToString(deterministic=True),
            route.route.SerializeToString(deterministic=True),
            rc.Route(name=route.name).SerializeToString(deterministic=True),
        )
        whole = route.SerializeToString(deterministic=True)
        if route.route.cluster or template.with_action(template.action) != whole:
            raise ValueError(f"route {route.name!r} holds more than a match, a cluster-less action and a name")
        return template

    def with_action(self, action: bytes) -> bytes:
        return b"".join((self.before, delimited(_ROUTE_ACTION, action), self.after))

    def to(self, cluster: str) -> bytes:
        """The route's deterministic bytes with its action sending to `cluster` (`with_action` of the
        cluster field and the action, written in one join: a large proxy writes one per backend)."""
        raw = cluster.encode()
        named = varint(len(raw))
        action = 1 + len(named) + len(raw) + len(self.action)  # the cluster field, then the action's own
        return b"".join((self.before, _ROUTE_ACTION, varint(action), _ACTION_CLUSTER, named, raw, self.action,
                         self.after))  # fmt: skip


class HostWire:
    """A service's virtual host serialised around its domains: `service` and `service:port`.

    A state's proxies share one per service (`translate.cache`), and each config field it is written
    into is kept the first time it is asked for: every caller's config then joins kept bytes."""

    __slots__ = ("_direct", "_direct_bare", "_per_port", "head", "service", "service_port", "tail")

    def __init__(self, head: bytes, tail: bytes, service: bytes, service_port: bytes) -> None:
        self.head = head  # the name field
        self.tail = tail  # the route fields
        self.service = service  # the domain field of the bare service name
        self.service_port = service_port  # the domain field of `service:port`
        self._per_port: bytes | None = None
        self._direct: bytes | None = None
        self._direct_bare: bytes | None = None

    @classmethod
    def of(cls, service: str, port: int, routes: Iterable[bytes]) -> HostWire:
        """The host `service:port` holding `routes` (each a route's deterministic bytes), in order."""
        qualified = f"{service}:{port}".encode()
        return cls(
            delimited(_HOST_NAME, qualified),
            b"".join([delimited(_HOST_ROUTE, route) for route in routes]),
            delimited(_HOST_DOMAIN, service.encode()),
            delimited(_HOST_DOMAIN, qualified),
        )

    def under(self, first: bytes, second: bytes = b"") -> bytes:
        """The config's `virtual_hosts` field of this host under `first` and `second` (its own domain fields),
        written in one join: a large proxy writes two per backend."""
        head, tail = self.head, self.tail
        size = len(head) + len(first) + len(second) + len(tail)
        return b"".join((_CONFIG_HOST, varint(size), head, first, second, tail))

    def in_port_config(self) -> bytes:
        """The field in its port's config: under `service` and `service:port`."""
        if self._per_port is None:
            self._per_port = self.under(self.service, self.service_port)
        return self._per_port

    def in_direct_config(self, bare: bool) -> bytes:
        """The field in the direct config: under `service:port`, and first `service` too when `bare`."""
        if bare:
            if self._direct_bare is None:
                self._direct_bare = self.under(self.service_port, self.service)
            return self._direct_bare
        if self._direct is None:
            self._direct = self.under(self.service_port)
        return self._direct


@dataclass(frozen=True)
class CatchAllTemplate:
    """A config whose one virtual host, named as the config, takes every domain (`*`) to one route whose
    action names no cluster yet: a sidecar's ingress config, alike for every sidecar but for its cluster."""

    name: bytes  # the config's name field
    head: bytes  # the host's name and domain fields
    route: RouteTemplate

    @classmethod
    def of(cls, built: RouteConfiguration) -> CatchAllTemplate:
        """Split `built` (a name, one such host with one template route, nothing else)."""
        hosts = built.virtual_hosts
        route = hosts[0].routes[0] if len(hosts) == 1 and len(hosts[0].routes) == 1 else rc.Route()
        expected = RouteConfiguration(
            name=built.name, virtual_hosts=[rc.VirtualHost(name=built.name, domains=["*"], routes=[route])]
        )
        if built != expected or route.route.WhichOneof("cluster_specifier") is not None:
            raise ValueError(f"route config {built.name!r} holds more than a catch-all host with a cluster-less route")
        name = built.name.encode()
        head = delimited(_HOST_NAME, name) + delimited(_HOST_DOMAIN, b"*")
        return cls(delimited(_CONFIG_NAME, name), head, RouteTemplate.of(route))

    def to(self, cluster: str) -> bytes:
        """The config's deterministic bytes with its route sending to `cluster`."""
        host = self.head + delimited(_HOST_ROUTE, self.route.to(cluster))
        return self.name + delimited(_CONFIG_HOST, host)


def host_field(host: rc.VirtualHost) -> bytes:
    """A built virtual host as a config's `virtual_hosts` field."""
    return delimited(_CONFIG_HOST, host.SerializeToString(deterministic=True))


def config(name: str, hosts: list[bytes]) -> bytes:
    """A RouteConfiguration holding only its name and `hosts` (`virtual_hosts` fields), in order."""
    return b"".join([delimited(_CONFIG_NAME, name.encode()), *hosts])
