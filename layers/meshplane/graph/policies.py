"""Which policy sections apply to which resource: the index the resolver reads policies through.

Built once per `MeshState` (`graph.memo`).  For each target it keeps, per section, the policy
that gives it.  The API refuses two policies giving one section to one target; a state built
otherwise (tests, an import) keeps the first policy by name and reports the others.

Where sections land in a proxy's view:
- the proxy's own node or gateway (and the mesh, for sections that take a mesh target):
  `PROXY` sections, on `ProxyView.policies`;
- a backend virtual node, as its callers reach it: `UPSTREAM` sections, on `Upstream.policies`;
- a route: `ROUTE` sections, on `RouteView.policies`; a gateway route: `GATEWAY_ROUTE`, on
  `GatewayRouteView.policies`.
A target's own section wins over the mesh-wide one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from meshplane.graph.memo import per_state
from meshplane.model.ids import Kind, ResourceKey
from meshplane.model.policy.applied import NO_SECTIONS, Sections
from meshplane.model.state import MeshState

PROXY = ("authorization", "jwt", "headers", "rate_limit", "tracing")
UPSTREAM = ("zone_aware", "outlier_detection", "retry_budget")
ROUTE = ("headers", "mirror")
GATEWAY_ROUTE = ("headers",)


@dataclass(frozen=True)
class PolicyIndex:
    """`given[target][section attribute] = (policy name, section)` and the conflicts found."""

    given: dict[ResourceKey, dict[str, tuple[str, Any]]] = field(default_factory=dict)
    conflicts: dict[ResourceKey, tuple[str, ...]] = field(default_factory=dict)


def index(state: MeshState) -> PolicyIndex:
    """The state's policy index, built once per state object."""
    return per_state(state, "policy_index", _build)


def _build(state: MeshState) -> PolicyIndex:
    from meshplane.model.policy.spec import SECTION_MODULES

    found = PolicyIndex()
    for name in sorted(state.policies):
        spec = state.policies[name].spec
        for target in spec.targets:
            key = target.key(state.name)
            given = found.given.setdefault(key, {})
            for attr, _ in SECTION_MODULES:
                section = getattr(spec, attr)
                if section is None:
                    continue
                if attr in given:
                    found.conflicts[key] = (*found.conflicts.get(key, ()),
                                            f"policy {name!r} gives {attr} to the same target as policy "
                                            f"{given[attr][0]!r}, which is used")
                    continue
                given[attr] = (name, section)
    return found


def sections(state: MeshState, key: ResourceKey, attrs: tuple[str, ...]) -> tuple[Sections, tuple[str, ...]]:
    """The sections among `attrs` that apply to `key` (the mesh's, then its own), and any conflicts there."""
    if not state.policies:
        return NO_SECTIONS, ()
    found = index(state)
    mesh_key = ResourceKey(Kind.MESH, state.name, state.name)
    chosen: dict[str, tuple[str, Any]] = {}
    for where in (mesh_key, key) if key != mesh_key else (mesh_key,):
        for attr, given in found.given.get(where, {}).items():
            if attr in attrs:
                chosen[attr] = given
    if not chosen:
        return NO_SECTIONS, found.conflicts.get(key, ())
    sources = tuple(sorted({name for name, _ in chosen.values()}))
    values = {attr: section for attr, (_, section) in chosen.items()}
    return dataclasses.replace(NO_SECTIONS, sources=sources, **values), found.conflicts.get(key, ())
