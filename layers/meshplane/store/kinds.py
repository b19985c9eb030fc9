"""What the store and the API need to know about each of the seven resource kinds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from meshplane.model import shapes
from meshplane.model.ids import Kind, ResourceKey


@dataclass(frozen=True)
class KindInfo:
    """The generated shapes of one kind and the wire names that go with them."""

    kind: Kind
    type_name: str  # as in the operation names: CreateVirtualNode -> "VirtualNode"
    data: type[shapes.AppMeshModel]
    spec: type[shapes.AppMeshModel]
    ref: type[shapes.AppMeshModel]
    status: type[shapes.AppMeshModel]
    name_field: str  # wire name of the resource's own name member
    parent_field: str | None = None  # wire name of the router/gateway name member

    def key_of(self, mesh: str, values: dict[str, Any]) -> ResourceKey:
        """The key named by wire members (`meshName`, `virtualRouterName`, `routeName` ...)."""
        parent = values[self.parent_field] if self.parent_field else None
        return ResourceKey(self.kind, mesh, values[self.name_field], parent)


KINDS: dict[Kind, KindInfo] = {
    info.kind: info
    for info in (
        KindInfo(Kind.MESH, "Mesh", shapes.MeshData, shapes.MeshSpec, shapes.MeshRef, shapes.MeshStatus, "meshName"),
        KindInfo(
            Kind.VIRTUAL_NODE, "VirtualNode", shapes.VirtualNodeData, shapes.VirtualNodeSpec,
            shapes.VirtualNodeRef, shapes.VirtualNodeStatus, "virtualNodeName",
        ),
        KindInfo(
            Kind.VIRTUAL_SERVICE, "VirtualService", shapes.VirtualServiceData, shapes.VirtualServiceSpec,
            shapes.VirtualServiceRef, shapes.VirtualServiceStatus, "virtualServiceName",
        ),
        KindInfo(
            Kind.VIRTUAL_ROUTER, "VirtualRouter", shapes.VirtualRouterData, shapes.VirtualRouterSpec,
            shapes.VirtualRouterRef, shapes.VirtualRouterStatus, "virtualRouterName",
        ),
        KindInfo(
            Kind.ROUTE, "Route", shapes.RouteData, shapes.RouteSpec, shapes.RouteRef, shapes.RouteStatus,
            "routeName", "virtualRouterName",
        ),
        KindInfo(
            Kind.VIRTUAL_GATEWAY, "VirtualGateway", shapes.VirtualGatewayData, shapes.VirtualGatewaySpec,
            shapes.VirtualGatewayRef, shapes.VirtualGatewayStatus, "virtualGatewayName",
        ),
        KindInfo(
            Kind.GATEWAY_ROUTE, "GatewayRoute", shapes.GatewayRouteData, shapes.GatewayRouteSpec,
            shapes.GatewayRouteRef, shapes.GatewayRouteStatus, "gatewayRouteName", "virtualGatewayName",
        ),
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
