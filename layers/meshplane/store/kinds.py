"""What the store and the API need to know about each of the seven resource kinds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from meshplane.model import shapes
from meshplane.model.ids import Kind, ResourceKey


class _Shape:
    """A kind's generated class `<type_name><Attribute>` (`VirtualNodeData` ...), looked up on use."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.suffix = name.capitalize()

    def __get__(self, info: KindInfo, owner: type | None = None) -> type[shapes.AppMeshModel]:
        model: type[shapes.AppMeshModel] = getattr(shapes, f"{info.type_name}{self.suffix}")
        return model


@dataclass(frozen=True)
class KindInfo:
    """The generated shapes of one kind and the wire names that go with them.

    The shapes are looked up by name when first used, so a caller that handles one
    kind (or none, like ListMeshes) never builds the other kinds' classes.
    """

    kind: Kind
    type_name: str  # as in the operation names: CreateVirtualNode -> "VirtualNode"
    name_field: str  # wire name of the resource's own name member
    parent_field: str | None = None  # wire name of the router/gateway name member

    data = _Shape()  # not fields: no annotation
    spec = _Shape()
    ref = _Shape()
    status = _Shape()

    def key_of(self, mesh: str, values: dict[str, Any]) -> ResourceKey:
        """The key named by wire members (`meshName`, `virtualRouterName`, `routeName` ...)."""
        parent = values[self.parent_field] if self.parent_field else None
        return ResourceKey(self.kind, mesh, values[self.name_field], parent)


KINDS: dict[Kind, KindInfo] = {
    info.kind: info
    for info in (
        KindInfo(Kind.MESH, "Mesh", "meshName"),
        KindInfo(Kind.VIRTUAL_NODE, "VirtualNode", "virtualNodeName"),
        KindInfo(Kind.VIRTUAL_SERVICE, "VirtualService", "virtualServiceName"),
        KindInfo(Kind.VIRTUAL_ROUTER, "VirtualRouter", "virtualRouterName"),
        KindInfo(Kind.ROUTE, "Route", "routeName", "virtualRouterName"),
        KindInfo(Kind.VIRTUAL_GATEWAY, "VirtualGateway", "virtualGatewayName"),
        KindInfo(Kind.GATEWAY_ROUTE, "GatewayRoute", "gatewayRouteName", "virtualGatewayName"),
    )
}
BY_TYPE_NAME: dict[str, KindInfo] = {info.type_name: info for info in KINDS.values()}


def references(key: ResourceKey, spec: Any) -> frozenset[ResourceKey]:
    """The resources `spec` names and that must exist while it does.

    A virtual service names its provider, a route its weighted targets and a
    gateway route its target virtual service.  Backends of virtual nodes are
    not references: App Mesh let a node name a service created later.
    """
    mesh = key.mesh
    if key.kind is Kind.VIRTUAL_SERVICE and spec.provider is not None:
        attr, provider = spec.provider.member
        if attr == "virtual_node":
            return frozenset({ResourceKey(Kind.VIRTUAL_NODE, mesh, provider.virtual_node_name)})
        return frozenset({ResourceKey(Kind.VIRTUAL_ROUTER, mesh, provider.virtual_router_name)})
    if key.kind is Kind.ROUTE:
        route = _one_route(spec, ("http_route", "http2_route", "grpc_route", "tcp_route"))
        if route is None:
            return frozenset()
        return frozenset(ResourceKey(Kind.VIRTUAL_NODE, mesh, t.virtual_node) for t in route.action.weighted_targets)
    if key.kind is Kind.GATEWAY_ROUTE:
        route = _one_route(spec, ("http_route", "http2_route", "grpc_route"))
        if route is None:
            return frozenset()
        name = route.action.target.virtual_service.virtual_service_name
        return frozenset({ResourceKey(Kind.VIRTUAL_SERVICE, mesh, name)})
    return frozenset()


def _one_route(spec: Any, attrs: tuple[str, ...]) -> Any:
    for attr in attrs:
        route = getattr(spec, attr)
        if route is not None:
            return route
    return None
