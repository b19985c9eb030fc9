"""Resource kinds, ARNs and proxy identities, exactly as App Mesh spells them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

DEFAULT_PARTITION = "aws"
# aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b, aws-eusc...: AWS names every partition this way
PARTITION = re.compile(r"aws(-[a-z]+)*")


class Kind(str, Enum):
    """The seven App Mesh resource types; the value is the ARN path segment."""

    MESH = "mesh"
    VIRTUAL_SERVICE = "virtualService"
    VIRTUAL_NODE = "virtualNode"
    VIRTUAL_ROUTER = "virtualRouter"
    ROUTE = "route"
    VIRTUAL_GATEWAY = "virtualGateway"
    GATEWAY_ROUTE = "gatewayRoute"

    @property
    def parent_kind(self) -> Kind | None:
        """Routes live under a router and gateway routes under a gateway."""
        return {Kind.ROUTE: Kind.VIRTUAL_ROUTER, Kind.GATEWAY_ROUTE: Kind.VIRTUAL_GATEWAY}.get(self)


@dataclass(frozen=True, order=True)
class ResourceKey:
    """Identifies one resource inside a mesh.  `parent` is the router or gateway name."""

    kind: Kind
    mesh: str
    name: str
    parent: str | None = None

    def arn(self, region: str, account: str, *, partition: str = DEFAULT_PARTITION) -> str:
        """The App Mesh ARN in `partition` (aws, aws-cn, aws-us-gov...), as the stack's account sees it."""
        return f"arn:{partition}:appmesh:{region}:{account}:{self.path}"

    @property
    def path(self) -> str:
        """`mesh/<m>[/<parent kind>/<parent>][/<kind>/<n>]`, the resource part of the ARN."""
        path = f"mesh/{self.mesh}"
        if self.kind is Kind.MESH:
            return path
        if self.kind.parent_kind is not None:
            path += f"/{self.kind.parent_kind.value}/{self.parent}"
        return f"{path}/{self.kind.value}/{self.name}"

    @classmethod
    def from_arn(cls, arn: str) -> ResourceKey:
        """Parse an App Mesh ARN of any partition; raises ValueError for anything else."""
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn" or not PARTITION.fullmatch(parts[1]) or parts[2] != "appmesh":
            raise ValueError(f"not an App Mesh ARN: {arn!r}")
        return cls.from_path(parts[5])

    @classmethod
    def from_path(cls, path: str) -> ResourceKey:
        """Parse `mesh/<m>[/<kind>/<n>[/<kind>/<n>]]`."""
        segments = path.split("/")
        if len(segments) < 2 or segments[0] != "mesh" or not segments[1]:
            raise ValueError(f"not an App Mesh resource path: {path!r}")
        mesh = segments[1]
        rest = segments[2:]
        if not rest:
            return cls(Kind.MESH, mesh, mesh)
        try:
            if len(rest) == 2:
                kind = Kind(rest[0])
                if kind in (Kind.MESH, Kind.ROUTE, Kind.GATEWAY_ROUTE) or not rest[1]:
                    raise ValueError
                return cls(kind, mesh, rest[1])
            if len(rest) == 4:
                parent_kind, kind = Kind(rest[0]), Kind(rest[2])
                if kind.parent_kind is not parent_kind or not rest[1] or not rest[3]:
                    raise ValueError
                return cls(kind, mesh, rest[3], rest[1])
        except ValueError:
            pass
        raise ValueError(f"not an App Mesh resource path: {path!r}")


@dataclass(frozen=True, order=True)
class ProxyId:
    """The identity of one Envoy: a virtual node or a virtual gateway of a mesh.

    Envoys name themselves by `node.id` as App Mesh did: `mesh/<m>/virtualNode/<n>`,
    `mesh/<m>/virtualGateway/<n>`, or the full ARN.
    """

    mesh: str
    kind: Kind
    name: str

    @classmethod
    def parse(cls, node_id: str) -> ProxyId:
        key = ResourceKey.from_arn(node_id) if node_id.startswith("arn:") else ResourceKey.from_path(node_id)
        if key.kind not in (Kind.VIRTUAL_NODE, Kind.VIRTUAL_GATEWAY):
            raise ValueError(f"node id must name a virtual node or virtual gateway: {node_id!r}")
        return cls(key.mesh, key.kind, key.name)

    @property
    def path(self) -> str:
        return f"mesh/{self.mesh}/{self.kind.value}/{self.name}"

    @property
    def is_gateway(self) -> bool:
        return self.kind is Kind.VIRTUAL_GATEWAY

    def __str__(self) -> str:
        return self.path
