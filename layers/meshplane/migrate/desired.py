"""A resource as a source defines it, in the App Mesh API's wire form, before it is applied."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meshplane.migrate.errors import Origin
from meshplane.model.ids import Kind, ResourceKey

# Dependency order: a resource is applied after everything it may reference.  Nodes' backends are
# not references (App Mesh let a node name a service created later), so nodes come first.
APPLY_ORDER: tuple[Kind, ...] = (
    Kind.MESH,
    Kind.VIRTUAL_NODE,
    Kind.VIRTUAL_ROUTER,
    Kind.ROUTE,
    Kind.VIRTUAL_SERVICE,
    Kind.VIRTUAL_GATEWAY,
    Kind.GATEWAY_ROUTE,
)


@dataclass
class Desired:
    """One resource to converge to: its key, its spec as the API spells it, its tags.

    `tags` None means the source says nothing about tags (CRDs, API describe output):
    existing tags are then left alone.  A dict, even empty, is the whole set.
    """

    key: ResourceKey
    spec: dict[str, Any]
    origin: Origin
    tags: dict[str, str] | None = None
    mesh_owner: str | None = None
    notes: list[str] = field(default_factory=list)  # what the source had that App Mesh never applied
    paths: dict[tuple[str | int, ...], str] = field(default_factory=dict, repr=False)  # wire place -> source name

    @property
    def label(self) -> str:
        """`virtualNode 'blue' in mesh 'color'`, `route 'r' in virtualRouter 'vr' of mesh 'color'`."""
        from meshplane.store.resources import describe_key

        return describe_key(self.key)


def order_key(key: ResourceKey) -> tuple[int, str, str, str]:
    """Sorts keys into APPLY_ORDER, then by mesh, parent and name."""
    return APPLY_ORDER.index(key.kind), key.mesh, key.parent or "", key.name
