"""Resource quotas (App Mesh's defaults, each overridable from the environment) and what one item can hold.

A resource is one DynamoDB item, so what a request may carry is bounded by
DynamoDB's hard limits: 400 KB per item, 2,048 bytes per partition key and
1,024 per sort key (names are ASCII, `model.names`, so their keys stay far
below).  The spec is what varies: `SPEC_MAX_BYTES` is what remains of an item
once every other attribute is at its largest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

from meshplane.envvars import LIMIT_PREFIX
from meshplane.model.ids import Kind

ITEM_MAX_BYTES = 400 * 1024
PARTITION_KEY_MAX_BYTES = 2048
SORT_KEY_MAX_BYTES = 1024
# App Mesh's tag bounds (botocore TagKey, TagValue; 50 per resource is a hard App Mesh limit)
MAX_TAGS_PER_RESOURCE = 50
TAG_KEY_MAX_CHARS = 128
TAG_VALUE_MAX_CHARS = 256
UTF8_MAX_BYTES_PER_CHAR = 4
MAP_ENTRY_OVERHEAD_BYTES = 3  # DynamoDB's per-element overhead of a map or list
# Every attribute of a resource item but its spec and tags: keys, names, ARN, metadata, ten client
# tokens.  Their worst case is under 4 KiB (tests/api/test_item_budget.py builds it); twice that is kept.
ITEM_RESERVE_BYTES = 8 * 1024
TAGS_MAX_BYTES = MAX_TAGS_PER_RESOURCE * (
    (TAG_KEY_MAX_CHARS + TAG_VALUE_MAX_CHARS) * UTF8_MAX_BYTES_PER_CHAR + MAP_ENTRY_OVERHEAD_BYTES
)
SPEC_MAX_BYTES = ITEM_MAX_BYTES - ITEM_RESERVE_BYTES - TAGS_MAX_BYTES
"""The largest stored spec (its compact JSON, `store.schema.spec_json`) that still fits one item."""


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
    policies_per_mesh: int = 100  # meshplane Policy resources (not an App Mesh quota)
    tags_per_resource: int = MAX_TAGS_PER_RESOURCE

    def __post_init__(self) -> None:
        if not 0 <= self.tags_per_resource <= MAX_TAGS_PER_RESOURCE:
            # more tags could not fit beside the largest spec in one item (SPEC_MAX_BYTES)
            raise ValueError(f"tags_per_resource must be 0 to {MAX_TAGS_PER_RESOURCE}, got {self.tags_per_resource}")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Limits:
        """App Mesh's defaults, each overridden by its variable (`meshplane.config.Settings` reads them)."""
        values = {}
        for f in fields(cls):
            name = f"{LIMIT_PREFIX}{f.name.upper()}"
            raw = env.get(name)
            if raw is not None:
                try:
                    values[f.name] = int(raw)
                except ValueError:
                    raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
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
