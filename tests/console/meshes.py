"""The meshes the console tests create through boto3's `appmesh` client, as a user would."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

APP_PORT = 8080


def listener(port: int = APP_PORT) -> dict[str, Any]:
    return {"portMapping": {"port": port, "protocol": "http"}}


def weighted(route: dict[str, int]) -> dict[str, Any]:
    """An httpRoute spec over `{node: weight}`, in that order."""
    targets = [{"virtualNode": node, "weight": weight} for node, weight in route.items()]
    return {"httpRoute": {"match": {"prefix": "/"}, "action": {"weightedTargets": targets}}}


@dataclass(frozen=True)
class ColorMesh:
    """`front` calls `color.svc`, a router's route split over `blue` and `green` (DNS discovery: their apps)."""

    mesh: str
    router: str = "color-router"
    route: str = "split"
    service: str = "color.svc"


def create_color_mesh(appmesh: Any, mesh: str, addresses: dict[str, str], weights: dict[str, int]) -> ColorMesh:
    """`addresses`: the app address of each of blue and green, which their DNS service discovery names."""
    made = ColorMesh(mesh)
    appmesh.create_mesh(meshName=mesh)
    for node, address in addresses.items():
        appmesh.create_virtual_node(meshName=mesh, virtualNodeName=node, spec={
            "listeners": [listener()], "serviceDiscovery": {"dns": {"hostname": address}}})
    appmesh.create_virtual_router(meshName=mesh, virtualRouterName=made.router, spec={"listeners": [listener()]})
    appmesh.create_route(meshName=mesh, virtualRouterName=made.router, routeName=made.route, spec=weighted(weights))
    appmesh.create_virtual_service(meshName=mesh, virtualServiceName=made.service,
                                   spec={"provider": {"virtualRouter": {"virtualRouterName": made.router}}})
    appmesh.create_virtual_node(meshName=mesh, virtualNodeName="front", spec={
        "listeners": [listener(9000)], "backends": [{"virtualService": {"virtualServiceName": made.service}}]})
    return made


def create_layered_mesh(appmesh: Any, mesh: str, *, tiers: int = 4, routed: int = 24, direct: int = 33,
                        gateways: int = 2, gateway_routes: int = 6) -> int:
    """A mesh of services in `tiers`, each tier's nodes calling the next tier's services; returns its resource count.

    `routed` services sit behind a router with one route split over two nodes (5 resources each), `direct` ones
    are provided by one node (2 each), and each of `gateways` has `gateway_routes` to the first tier.  The
    defaults make 200 resources, as App Mesh's 200 virtual nodes per mesh bounds a real one.
    """
    appmesh.create_mesh(meshName=mesh)
    services = [f"s{i:02d}.svc" for i in range(routed + direct)]
    tier_of = {name: i * tiers // len(services) for i, name in enumerate(services)}
    nodes: list[tuple[str, list[str]]] = []  # (node, the services it calls)
    plan: list[tuple[str, str]] = []  # (service, how it is provided: "router" or the node)
    for i, service in enumerate(services):
        callees = [s for s in services if tier_of[s] == tier_of[service] + 1][i % 3::5][:2]
        if i < routed:
            pair = [f"n{i:02d}-v1", f"n{i:02d}-v2"]
            nodes += [(node, callees) for node in pair]
            plan.append((service, "router"))
        else:
            nodes.append((f"n{i:02d}", callees))
            plan.append((service, f"n{i:02d}"))
    with ThreadPoolExecutor(4) as pool:  # the local API runs 4 workers
        list(pool.map(lambda item: appmesh.create_virtual_node(meshName=mesh, virtualNodeName=item[0], spec={
            "listeners": [listener()], "serviceDiscovery": {"dns": {"hostname": f"{item[0]}.local"}},
            "backends": [{"virtualService": {"virtualServiceName": s}} for s in item[1]]}), nodes))
        list(pool.map(lambda item: _provide(appmesh, mesh, *item), plan))
        first = [s for s in services if tier_of[s] == 0]
        list(pool.map(lambda g: _gateway(appmesh, mesh, f"gw{g}", first, gateway_routes), range(gateways)))
    return len(nodes) + len(services) + 2 * routed + gateways * (1 + gateway_routes)


def _provide(appmesh: Any, mesh: str, service: str, provider: str) -> None:
    if provider == "router":
        router, index = f"r-{service.split('.')[0]}", service[1:3]
        appmesh.create_virtual_router(meshName=mesh, virtualRouterName=router, spec={"listeners": [listener()]})
        appmesh.create_route(meshName=mesh, virtualRouterName=router, routeName="split",
                             spec=weighted({f"n{index}-v1": 80, f"n{index}-v2": 20}))
        spec = {"provider": {"virtualRouter": {"virtualRouterName": router}}}
    else:
        spec = {"provider": {"virtualNode": {"virtualNodeName": provider}}}
    appmesh.create_virtual_service(meshName=mesh, virtualServiceName=service, spec=spec)


def _gateway(appmesh: Any, mesh: str, gateway: str, services: list[str], count: int) -> None:
    appmesh.create_virtual_gateway(meshName=mesh, virtualGatewayName=gateway, spec={"listeners": [listener()]})
    for i in range(count):
        service = services[i % len(services)]
        appmesh.create_gateway_route(meshName=mesh, virtualGatewayName=gateway, gatewayRouteName=f"{gateway}-r{i}",
                                     spec={"httpRoute": {"match": {"prefix": f"/{gateway}/{i}"},
                                                         "action": {"target": {"virtualService": {
                                                             "virtualServiceName": service}}}}})
