"""Routes must fit their virtual router's listeners, as App Mesh's API required.

A route serves the router listener its `match.port` names, or the router's only listener
when it names none, and its type (`httpRoute`, `http2Route`, `grpcRoute`, `tcpRoute`) must
be that listener's protocol.  App Mesh documented it ("the protocol that you select must
match the listener protocol that you selected for your virtual router") and refused writes
that broke it in either direction: a route that does not fit, and a router update that
would strand routes (a listener's protocol changed under them, their port removed, a second
listener added while they name no port).  Its Kubernetes controller deletes such routes
before it updates a router for that reason.

`refusal` is the API's check; `misfit` is the rule, which the resolver also applies so that
a route that got past the API anyway (written at the same moment as its router) is reported
rather than left out silently.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from meshplane.graph import view
from meshplane.model import shapes
from meshplane.model.ids import Kind, ResourceKey

# (spec attribute, wire field, listener protocol), in the order App Mesh's RouteSpec lists them.
ROUTE_TYPES: tuple[tuple[str, str, view.Protocol], ...] = (
    ("http_route", "httpRoute", "http"),
    ("http2_route", "http2Route", "http2"),
    ("grpc_route", "grpcRoute", "grpc"),
    ("tcp_route", "tcpRoute", "tcp"),
)
_NAMES_SHOWN = 5  # App Mesh listed up to 5 route names in its refusals


@dataclass(frozen=True)
class RouteType:
    """A route's one member: its wire field, the protocol it serves, and the port it matches (or None)."""

    field: str
    protocol: str
    port: int | None


def route_type(spec: shapes.RouteSpec) -> RouteType | None:
    for attr, field, protocol in ROUTE_TYPES:
        body = getattr(spec, attr)
        if body is not None:
            return RouteType(field, protocol, body.match.port if body.match is not None else None)
    return None


def misfit(spec: shapes.RouteSpec, listeners: Sequence[shapes.VirtualRouterListener], router: str) -> str | None:
    """Why the route cannot serve the listener it applies to, or None.  A port that is not a
    listener's, or no port under several listeners, is `_check_match_port`'s to refuse."""
    kind = route_type(spec)
    if kind is None:
        return None
    protocols = {li.port_mapping.port: li.port_mapping.protocol for li in listeners}
    port = kind.port if kind.port is not None else (next(iter(protocols)) if len(protocols) == 1 else None)
    protocol = protocols.get(port) if port is not None else None
    if protocol is None or protocol == kind.protocol:
        return None
    return (
        f"spec.{kind.field}: a {kind.protocol} route does not match the protocol {protocol} "
        f"of virtual router {router!r} listener {port}"
    )


class RouterStore(Protocol):
    """What `refusal` reads: `meshplane.store.resources.ResourceStore` provides it."""

    def spec(self, key: ResourceKey) -> Any | None: ...

    def list_page(
        self, kind: Kind, mesh: str, parent: str | None, limit: int, start_after: str | None
    ) -> tuple[list[Any], str | None]: ...


def refusal(store: RouterStore, key: ResourceKey, spec: Any) -> str | None:
    """Why App Mesh would refuse writing `spec` at `key` (a route or a virtual router), or None."""
    if key.kind is Kind.ROUTE:
        router = store.spec(ResourceKey(Kind.VIRTUAL_ROUTER, key.mesh, key.parent or ""))
        if router is None:
            return None  # the missing router is the write's own NotFound
        listeners = router.listeners or []
        return misfit(spec, listeners, key.parent or "")
    if key.kind is Kind.VIRTUAL_ROUTER:
        return stranded(list(_routes_of(store, key)), spec.listeners or [], key.name)
    return None


def stranded(
    routes: Sequence[shapes.RouteData], listeners: Sequence[shapes.VirtualRouterListener], router: str
) -> str | None:
    """Why these listeners would leave some of the router's existing routes unable to serve, or None."""
    ports = {li.port_mapping.port for li in listeners}
    typed = [(r.route_name, route_type(r.spec)) for r in routes]
    if len(ports) > 1:
        portless = [name for name, kind in typed if kind is not None and kind.port is None]
        if portless:
            return (
                "spec.listeners: All Routes for this Virtual Router must define a port match before adding "
                f"multiple listeners to this Virtual Router. {len(portless)} Route(s) are missing port. "
                f"Listing up to {_NAMES_SHOWN} route names: {_shown(portless)}"
            )
    gone = [name for name, kind in typed if kind is not None and kind.port is not None and kind.port not in ports]
    if gone:
        return f"spec.listeners: routes {_shown(gone)} of virtual router {router!r} match ports it would not listen on"
    mismatched = [r.route_name for r in routes if misfit(r.spec, listeners, router) is not None]
    if mismatched:
        return (
            f"spec.listeners: the listener protocols of virtual router {router!r} would no longer match "
            f"the type of routes {_shown(mismatched)}"
        )
    return None


def _shown(names: Sequence[str]) -> str:
    return "[" + ", ".join(names[:_NAMES_SHOWN]) + "]"


def _routes_of(store: RouterStore, router: ResourceKey) -> Iterator[shapes.RouteData]:
    if store.spec(router) is None:
        return  # a new router has no routes yet
    after: str | None = None
    while True:
        page, after = store.list_page(Kind.ROUTE, router.mesh, router.name, 100, after)
        yield from page
        if after is None:
            return
