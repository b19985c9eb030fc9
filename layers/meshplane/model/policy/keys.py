"""How a Policy is named where App Mesh resources are named by `ResourceKey`.

A policy is not an App Mesh kind (it has no `Kind`, no `appmesh` ARN), but the pipeline's
dependency index records it beside the resources a proxy was built from, by its path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from meshplane.model.ids import PARTITION, ResourceKey

POLICY_SEGMENT = "policy"
ARN_SERVICE = "meshplane"  # a policy's ARN: `arn:<partition>:meshplane:<region>:<account>:mesh/<m>/policy/<n>`


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

    @classmethod
    def from_arn(cls, arn: str) -> PolicyKey:
        """Parse a policy's ARN of any partition, region and account; raises ValueError for anything else."""
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn" or not PARTITION.fullmatch(parts[1]) or parts[2] != ARN_SERVICE:
            raise ValueError(f"not a meshplane ARN: {arn!r}")
        segments = parts[5].split("/")
        if len(segments) != 4 or segments[0] != "mesh" or segments[2] != POLICY_SEGMENT or "" in segments:
            raise ValueError(f"not a meshplane policy path: {parts[5]!r}")
        return cls(segments[1], segments[3])


DependencyKey: TypeAlias = "ResourceKey | PolicyKey"
"""What a proxy's config can be built from: App Mesh resources and policies."""
