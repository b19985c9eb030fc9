"""Resource quotas: App Mesh's defaults, each overridable from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

from meshplane.model.ids import Kind


@dataclass(frozen=True)
class Limits:
    """Quotas per account, mesh or parent (`MESHPLANE_LIMIT_<FIELD>` overrides each)."""

    meshes: int = 15
    virtual_nodes: int = 200
    virtual_services: int = 200
    virtual_routers: int = 200
    virtual_gateways: int = 3
    routes_per_router: int = 50
    gateway_routes_per_gateway: int = 10
    backends_per_node: int = 50
    tags_per_resource: int = 50

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Limits:
        env = os.environ if env is None else env
        values = {}
        for f in fields(cls):
            raw = env.get(f"MESHPLANE_LIMIT_{f.name.upper()}")
            if raw is not None:
                values[f.name] = int(raw)
        return cls(**values)

    def for_kind(self, kind: Kind) -> int:
        """The quota on how many resources of `kind` one container (account, mesh, parent) holds."""
        return {
            Kind.MESH: self.meshes,
            Kind.VIRTUAL_NODE: self.virtual_nodes,
            Kind.VIRTUAL_SERVICE: self.virtual_services,
            Kind.VIRTUAL_ROUTER: self.virtual_routers,
            Kind.VIRTUAL_GATEWAY: self.virtual_gateways,
            Kind.ROUTE: self.routes_per_router,
            Kind.GATEWAY_ROUTE: self.gateway_routes_per_gateway,
        }[kind]
