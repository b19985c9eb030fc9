"""The translator's input: one mesh's resources plus the endpoints discovered for them.

This is the seam between the stores (DynamoDB, tests, benchmarks) and the pure
core: everything here is plain immutable data, with no AWS client in sight.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from meshplane.model import shapes
from meshplane.model.ids import ProxyId, ResourceKey

if TYPE_CHECKING:  # the policy sections load only where a mesh has policies
    from meshplane.model.policy.spec import PolicyData

EndpointSource = Literal["ecs", "cloudmap", "dns", "static"]

# Tags under this prefix opt a resource into meshplane's extensions beyond App Mesh
# (see meshplane.graph.extensions); the store passes only these into MeshState.tags.
EXTENSION_TAG_PREFIX = "meshplane.io/"


class Endpoint(BaseModel):
    """One discovered instance of a virtual node.

    `port` is set when the instance is reached on a port other than the virtual
    node listener's (for example a Cloud Map `AWS_INSTANCE_PORT`, or a sidecar's
    ingress port on a host without iptables redirection); otherwise callers use
    the listener port, as App Mesh did.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    instance_id: str
    address: str
    port: int | None = Field(default=None, ge=1, le=65535)
    healthy: bool = True
    zone: str | None = None
    attributes: Mapping[str, str] = Field(default_factory=dict)
    source: EndpointSource = "static"


@dataclass(frozen=True)
class MeshState:
    """Every resource of one mesh, keyed by name, in the shapes `Describe*` returns.

    Routes and gateway routes are keyed by `(parent name, name)`.  `endpoints`
    maps a virtual node name to its discovered instances.  `tags` maps a resource to its tags.
    `policies` holds the mesh's meshplane Policy resources by name (see `model.policy`).
    """

    mesh: shapes.MeshData
    virtual_nodes: Mapping[str, shapes.VirtualNodeData] = field(default_factory=dict)
    virtual_services: Mapping[str, shapes.VirtualServiceData] = field(default_factory=dict)
    virtual_routers: Mapping[str, shapes.VirtualRouterData] = field(default_factory=dict)
    routes: Mapping[tuple[str, str], shapes.RouteData] = field(default_factory=dict)
    virtual_gateways: Mapping[str, shapes.VirtualGatewayData] = field(default_factory=dict)
    gateway_routes: Mapping[tuple[str, str], shapes.GatewayRouteData] = field(default_factory=dict)
    endpoints: Mapping[str, tuple[Endpoint, ...]] = field(default_factory=dict)
    # Resource tags (from `tags` / `TagResource`); only `meshplane.io/` keys are read (graph.extensions).
    tags: Mapping[ResourceKey, Mapping[str, str]] = field(default_factory=dict)
    policies: Mapping[str, PolicyData] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.mesh.mesh_name

    def joined(self, newer: MeshState) -> MeshState:
        """This part of a mesh together with another part of it read later (`newer` wins where both hold a key)."""
        return dataclasses.replace(
            newer,
            virtual_nodes={**self.virtual_nodes, **newer.virtual_nodes},
            virtual_services={**self.virtual_services, **newer.virtual_services},
            virtual_routers={**self.virtual_routers, **newer.virtual_routers},
            routes={**self.routes, **newer.routes},
            virtual_gateways={**self.virtual_gateways, **newer.virtual_gateways},
            gateway_routes={**self.gateway_routes, **newer.gateway_routes},
            endpoints={**self.endpoints, **newer.endpoints},
            tags={**self.tags, **newer.tags},
            policies={**self.policies, **newer.policies},
        )

    def defines(self, proxy: ProxyId) -> bool:
        """Whether this state holds the node or gateway `proxy` is."""
        return proxy.name in (self.virtual_gateways if proxy.is_gateway else self.virtual_nodes)
