"""Small meshes written through the real resource store, as the API would."""

from __future__ import annotations

from typing import Any

from meshplane.model.ids import Kind

from .conftest import World


def listener(port: int, protocol: str = "http") -> dict[str, Any]:
    return {"portMapping": {"port": port, "protocol": protocol}}


def http_route(*targets: tuple[str, int], prefix: str = "/") -> dict[str, Any]:
    weighted = [{"virtualNode": node, "weight": weight} for node, weight in targets]
    return {"httpRoute": {"match": {"prefix": prefix}, "action": {"weightedTargets": weighted}}}


def colors(world: World, mesh: str = "colors") -> None:
    """`front` calls `colors.local` (router -> `colors-blue`); `colors-blue` is the ECS service's node."""
    world.put(Kind.MESH, mesh, mesh, {})
    world.put(Kind.VIRTUAL_NODE, mesh, "colors-blue", {"listeners": [listener(8080)]})
    world.put(Kind.VIRTUAL_NODE, mesh, "colors-red", {"listeners": [listener(8080)]})
    world.put(Kind.VIRTUAL_ROUTER, mesh, "colors-router", {"listeners": [listener(8080)]})
    world.put(Kind.ROUTE, mesh, "colors-route", http_route(("colors-blue", 1)), parent="colors-router")
    world.put(Kind.VIRTUAL_SERVICE, mesh, "colors.local",
              {"provider": {"virtualRouter": {"virtualRouterName": "colors-router"}}})
    world.put(Kind.VIRTUAL_NODE, mesh, "front", {
        "listeners": [listener(9000)],
        "backends": [{"virtualService": {"virtualServiceName": "colors.local"}}],
    })
