"""How a Policy is named where App Mesh resources are named by `ResourceKey`.

A policy is not an App Mesh kind (it has no `Kind`, no `appmesh` ARN), but the pipeline's
dependency index records it beside the resources a proxy was built from, by its path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from meshplane.model.ids import ResourceKey

POLICY_SEGMENT = "policy"


@dataclass(frozen=True, order=True)
class PolicyKey:
    """One Policy resource of a mesh."""

    mesh: str
    name: str

    @property
    def path(self) -> str:
        """`mesh/<m>/policy/<name>`: the dependency index's name for it."""
        return f"mesh/{self.mesh}/{POLICY_SEGMENT}/{self.name}"

    def __str__(self) -> str:
        return self.path


DependencyKey: TypeAlias = "ResourceKey | PolicyKey"
"""What a proxy's config can be built from: App Mesh resources and policies."""
