"""What an import would change: each resource compared with what the API describes.

Each desired resource is `create` (absent), `update` (its spec or managed tags differ,
field by field) or `unchanged`.  Specs are compared in the generated shape's wire form,
so key order and unset members never count as a change.  Planning only reads; it also
checks that whatever a resource references (a mesh, a router or gateway, a route's
target nodes, a service's provider, a gateway route's target service) is either in the
import or already exists, so an import never stops on a missing reference halfway.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from meshplane.migrate import appmesh
from meshplane.migrate.desired import Desired, order_key
from meshplane.migrate.diff import FieldChange, changes
from meshplane.migrate.errors import Collector, SourceError
from meshplane.migrate.validate import compact, spec_model
from meshplane.model.ids import Kind, ResourceKey
from meshplane.store.kinds import KINDS, references

Action = Literal["create", "update", "unchanged"]


@dataclass
class Step:
    """One resource's part of the plan."""

    action: Action
    desired: Desired
    spec_changes: list[FieldChange] = field(default_factory=list)
    tags_set: dict[str, str] = field(default_factory=dict)  # added or changed
    tags_removed: list[str] = field(default_factory=list)
    arn: str | None = None  # of the existing resource
    current_tags: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> ResourceKey:
        return self.desired.key

    def field_changes(self) -> list[FieldChange]:
        from meshplane.migrate.diff import ABSENT

        tags = [FieldChange(f"tags.{k}", self.current_tags.get(k, ABSENT), v) for k, v in sorted(self.tags_set.items())]
        tags += [FieldChange(f"tags.{k}", self.current_tags[k], ABSENT) for k in self.tags_removed]
        return [*self.spec_changes, *tags]

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "kind": self.key.kind.value,
            "mesh": self.key.mesh,
            "name": self.key.name,
            **({"parent": self.key.parent} if self.key.parent else {}),
            "source": str(self.desired.origin),
            "changes": [c.to_json() for c in self.field_changes()],
            "notes": list(self.desired.notes),
        }


@dataclass
class Plan:
    steps: list[Step]

    def count(self, action: Action) -> int:
        return sum(1 for s in self.steps if s.action == action)

    @property
    def changes_anything(self) -> bool:
        return any(s.action != "unchanged" for s in self.steps)

    def to_json(self) -> dict[str, Any]:
        return {"steps": [s.to_json() for s in self.steps],
                "summary": {a: self.count(a) for a in ("create", "update", "unchanged")}}


def make_plan(client: Any, resources: Iterable[Desired]) -> Plan:
    """Compare every resource with the API's view; SourceError (collected) for a reference to nothing."""
    wanted = sorted(resources, key=lambda d: order_key(d.key))
    planner = _Planner(client, {d.key: d for d in wanted})
    steps = [planner.step(d) for d in wanted]
    errors = Collector()
    for desired in wanted:
        errors.run(desired.origin, partial(planner.check_references, desired))
    errors.raise_if_any()
    return Plan(steps)


class _Planner:
    def __init__(self, client: Any, wanted: dict[ResourceKey, Desired]) -> None:
        self.client, self.wanted = client, wanted
        self.existing: dict[ResourceKey, dict[str, Any] | None] = {}

    def current(self, key: ResourceKey, mesh_owner: str | None = None) -> dict[str, Any] | None:
        """The API's data of `key` (None: absent), described once; known absent when a container is."""
        if key not in self.existing:
            container = _container(key)
            if container is not None and self.current(container, mesh_owner) is None:
                self.existing[key] = None
            else:
                self.existing[key] = appmesh.describe(self.client, key, mesh_owner)
        return self.existing[key]

    def step(self, desired: Desired) -> Step:
        data = self.current(desired.key, desired.mesh_owner)
        if data is None:
            return Step("create", desired)
        arn = data["metadata"]["arn"]
        model = KINDS[desired.key.kind].spec
        before = compact(model.model_validate(data.get("spec") or {}).wire())
        after = compact(model.model_validate(desired.spec).wire())
        step = Step("unchanged", desired, spec_changes=changes(before, after, "spec"), arn=arn)
        if desired.tags is not None:
            step.current_tags = appmesh.tags(self.client, arn)
            step.tags_set = {k: v for k, v in desired.tags.items() if step.current_tags.get(k) != v}
            step.tags_removed = sorted(set(step.current_tags) - set(desired.tags))
        if step.spec_changes or step.tags_set or step.tags_removed:
            step.action = "update"
        return step

    def check_references(self, desired: Desired) -> None:
        key = desired.key
        needed = set(references(key, spec_model(desired)))
        container = _container(key)
        if container is not None:
            needed.add(container)
        for ref in sorted(needed, key=order_key):
            if ref in self.wanted:
                continue
            if self.current(ref, desired.mesh_owner) is None:
                raise SourceError(desired.origin, _field_of(key, ref), f"{_label(ref)} is neither in the sources nor "
                                                                       "in the target")


def _container(key: ResourceKey) -> ResourceKey | None:
    """What must exist before `key`: its router or gateway, else its mesh."""
    if key.kind is Kind.MESH:
        return None
    if key.kind.parent_kind is not None:
        return ResourceKey(key.kind.parent_kind, key.mesh, key.parent or "")
    return ResourceKey(Kind.MESH, key.mesh, key.mesh)


def _field_of(key: ResourceKey, ref: ResourceKey) -> str | None:
    if ref.kind is Kind.MESH:
        return "meshName"
    if key.kind.parent_kind is ref.kind:
        return KINDS[key.kind].parent_field
    return {Kind.VIRTUAL_SERVICE: "spec.provider", Kind.ROUTE: "spec.*Route.action.weightedTargets",
            Kind.GATEWAY_ROUTE: "spec.*Route.action.target.virtualService"}.get(key.kind)


def _label(key: ResourceKey) -> str:
    from meshplane.store.resources import describe_key

    return describe_key(key)
