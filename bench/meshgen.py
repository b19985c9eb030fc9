"""Synthetic App Mesh meshes for benchmarks, built directly as `MeshState`.

Deterministic for a given seed, so two runs (or meshplane and sovereign in one
run) measure exactly the same mesh.  Every node has one HTTP listener, Cloud Map
discovery, `backends` virtual-service backends and 2-10 endpoints; one service
in five is provided by a virtual router with a weighted route, the rest by the
node itself.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from datetime import UTC, datetime

from meshplane.model import shapes
from meshplane.model.ids import Kind, ResourceKey
from meshplane.model.state import Endpoint, MeshState

REGION = "us-east-1"
ACCOUNT = "123456789012"
LISTENER_PORT = 8080
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class MeshShape:
    """The knobs of a synthetic mesh."""

    nodes: int
    backends: int = 5
    min_endpoints: int = 2
    max_endpoints: int = 10
    router_every: int = 5  # every n-th service sits behind a virtual router
    seed: int = 8
    mesh: str = "bench"


def node_name(index: int) -> str:
    return f"node-{index:05d}"


def service_name(index: int, mesh: str = "bench") -> str:
    return f"svc-{index:05d}.{mesh}.local"


def _metadata(key: ResourceKey) -> shapes.ResourceMetadata:
    return shapes.ResourceMetadata(
        arn=key.arn(REGION, ACCOUNT),
        created_at=_EPOCH,
        last_updated_at=_EPOCH,
        mesh_owner=ACCOUNT,
        resource_owner=ACCOUNT,
        uid=f"uid-{key.kind.value}-{key.name}",
        version=1,
    )


def _http_port() -> shapes.PortMapping:
    return shapes.PortMapping(port=LISTENER_PORT, protocol="http")


def virtual_node(mesh: str, name: str, backend_services: list[str]) -> shapes.VirtualNodeData:
    spec = shapes.VirtualNodeSpec(
        listeners=[shapes.Listener(port_mapping=_http_port())],
        service_discovery=shapes.ServiceDiscovery(
            aws_cloud_map=shapes.AwsCloudMapServiceDiscovery(namespace_name=f"{mesh}.local", service_name=name)
        ),
        backends=[
            shapes.Backend(virtual_service=shapes.VirtualServiceBackend(virtual_service_name=svc))
            for svc in backend_services
        ],
    )
    return shapes.VirtualNodeData(
        mesh_name=mesh,
        virtual_node_name=name,
        metadata=_metadata(ResourceKey(Kind.VIRTUAL_NODE, mesh, name)),
        spec=spec,
        status=shapes.VirtualNodeStatus(status="ACTIVE"),
    )


def _service(mesh: str, name: str, provider: shapes.VirtualServiceProvider) -> shapes.VirtualServiceData:
    return shapes.VirtualServiceData(
        mesh_name=mesh,
        virtual_service_name=name,
        metadata=_metadata(ResourceKey(Kind.VIRTUAL_SERVICE, mesh, name)),
        spec=shapes.VirtualServiceSpec(provider=provider),
        status=shapes.VirtualServiceStatus(status="ACTIVE"),
    )


def _router(mesh: str, name: str) -> shapes.VirtualRouterData:
    return shapes.VirtualRouterData(
        mesh_name=mesh,
        virtual_router_name=name,
        metadata=_metadata(ResourceKey(Kind.VIRTUAL_ROUTER, mesh, name)),
        spec=shapes.VirtualRouterSpec(listeners=[shapes.VirtualRouterListener(port_mapping=_http_port())]),
        status=shapes.VirtualRouterStatus(status="ACTIVE"),
    )


def _weighted_route(mesh: str, router: str, primary: str, canary: str) -> shapes.RouteData:
    action = shapes.HttpRouteAction(
        weighted_targets=[
            shapes.WeightedTarget(virtual_node=primary, weight=90),
            shapes.WeightedTarget(virtual_node=canary, weight=10),
        ]
    )
    spec = shapes.RouteSpec(http_route=shapes.HttpRoute(match=shapes.HttpRouteMatch(prefix="/"), action=action))
    return shapes.RouteData(
        mesh_name=mesh,
        virtual_router_name=router,
        route_name="default",
        metadata=_metadata(ResourceKey(Kind.ROUTE, mesh, "default", router)),
        spec=spec,
        status=shapes.RouteStatus(status="ACTIVE"),
    )


def endpoints_for(index: int, count: int, generation: int = 0) -> tuple[Endpoint, ...]:
    """`count` Cloud Map instances of node `index` on 10.x addresses (never dialled)."""
    return tuple(
        Endpoint(
            instance_id=f"i-{index:05d}-{n}-{generation}",
            address=f"10.{(index >> 8) & 255}.{index & 255}.{(n + generation) % 250 + 1}",
            source="cloudmap",
        )
        for n in range(count)
    )


def mesh_data(name: str) -> shapes.MeshData:
    return shapes.MeshData(
        mesh_name=name,
        metadata=_metadata(ResourceKey(Kind.MESH, name, name)),
        spec=shapes.MeshSpec(egress_filter=shapes.EgressFilter(type="DROP_ALL")),
        status=shapes.MeshStatus(status="ACTIVE"),
    )


def build_mesh(shape: MeshShape) -> MeshState:
    """A mesh of `shape.nodes` nodes, each with `shape.backends` distinct backend services."""
    rng = random.Random(shape.seed)
    mesh, n = shape.mesh, shape.nodes
    services: dict[str, shapes.VirtualServiceData] = {}
    routers: dict[str, shapes.VirtualRouterData] = {}
    routes: dict[tuple[str, str], shapes.RouteData] = {}
    for i in range(n):
        svc = service_name(i, mesh)
        if shape.router_every and i % shape.router_every == 0 and n > 1:
            router = f"router-{i:05d}"
            routers[router] = _router(mesh, router)
            routes[(router, "default")] = _weighted_route(mesh, router, node_name(i), node_name((i + 1) % n))
            provider = shapes.VirtualServiceProvider(
                virtual_router=shapes.VirtualRouterServiceProvider(virtual_router_name=router)
            )
        else:
            provider = shapes.VirtualServiceProvider(
                virtual_node=shapes.VirtualNodeServiceProvider(virtual_node_name=node_name(i))
            )
        services[svc] = _service(mesh, svc, provider)
    nodes: dict[str, shapes.VirtualNodeData] = {}
    endpoints: dict[str, tuple[Endpoint, ...]] = {}
    others = max(n - 1, 0)
    for i in range(n):
        picks = rng.sample(range(others), min(shape.backends, others)) if others else []
        backend_services = [service_name((i + 1 + p) % n, mesh) for p in picks]
        nodes[node_name(i)] = virtual_node(mesh, node_name(i), backend_services)
        endpoints[node_name(i)] = endpoints_for(i, rng.randint(shape.min_endpoints, shape.max_endpoints))
    return MeshState(
        mesh=mesh_data(mesh),
        virtual_nodes=nodes,
        virtual_services=services,
        virtual_routers=routers,
        routes=routes,
        endpoints=endpoints,
    )


def fat_proxy_mesh(clusters: int, endpoints_per_node: int = 4, mesh: str = "bench") -> tuple[MeshState, str]:
    """One `client` node whose backends are `clusters` services, each on its own node.

    The client's config then holds `clusters` egress clusters (plus its ingress
    cluster), which is the "N clusters with their endpoints" of the peer comparison.
    """
    services: dict[str, shapes.VirtualServiceData] = {}
    nodes: dict[str, shapes.VirtualNodeData] = {}
    endpoints: dict[str, tuple[Endpoint, ...]] = {}
    for i in range(clusters):
        svc = service_name(i, mesh)
        provider = shapes.VirtualServiceProvider(
            virtual_node=shapes.VirtualNodeServiceProvider(virtual_node_name=node_name(i))
        )
        services[svc] = _service(mesh, svc, provider)
        nodes[node_name(i)] = virtual_node(mesh, node_name(i), [])
        endpoints[node_name(i)] = endpoints_for(i, endpoints_per_node)
    client = "client"
    nodes[client] = virtual_node(mesh, client, list(services))
    endpoints[client] = endpoints_for(0, 1)
    state = MeshState(mesh=mesh_data(mesh), virtual_nodes=nodes, virtual_services=services, endpoints=endpoints)
    return state, client


def with_endpoints(state: MeshState, node: str, replacement: tuple[Endpoint, ...]) -> MeshState:
    """The same mesh with one node's endpoint set replaced (an endpoint-only change)."""
    return dataclasses.replace(state, endpoints={**state.endpoints, node: replacement})
