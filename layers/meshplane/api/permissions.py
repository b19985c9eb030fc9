"""App Mesh's IAM model: the action, resource and condition keys each API operation is authorized with.

As the Service Authorization Reference ("Actions, resources, and condition keys for
AWS App Mesh") lists them:
- every operation is the action `appmesh:<OperationName>`;
- Create/Describe/Update/Delete act on the resource's own ARN; a List acts on its
  parent (the mesh, or the router or gateway for routes), ListMeshes on `*`;
  TagResource, UntagResource and ListTagsForResource on the ARN in the request;
- writes are also authorized on the resources they name, the optional resource types
  of their row: a route's target virtual nodes, a gateway route's target virtual
  service, a virtual service's provider, a virtual node's backend services;
- a create that carries tags also needs `appmesh:TagResource` on the new resource;
- condition keys: `aws:ResourceTag/<key>` (the stored resource's tags),
  `aws:RequestTag/<key>` and `aws:TagKeys` (the request's tags; an untag's keys).

Pure: ARNs come from the caller's `arn` function, tags are read by the authorizer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from meshplane.model.ids import Kind, ResourceKey
from meshplane.model.policy.keys import DependencyKey
from meshplane.store.kinds import BY_TYPE_NAME, KindInfo, references

SERVICE = "appmesh"
VERBS = ("Create", "Describe", "Update", "Delete", "List")
TAG_OPERATIONS = ("TagResource", "UntagResource", "ListTagsForResource")
ArnOf = Callable[[ResourceKey], str]


@dataclass(frozen=True)
class Check:
    """One authorization: `action` on `resource`, with the request's condition keys."""

    action: str
    resource: str  # an ARN, or "*"
    key: DependencyKey | None  # the stored resource (or policy) whose tags are `aws:ResourceTag/*`; None for "*"
    request_tags: Mapping[str, str] = field(default_factory=dict)
    tag_keys: tuple[str, ...] | None = None  # `aws:TagKeys`; None when the request names no tags


def checks(operation: str, inp: Any, arn: ArnOf) -> list[Check]:
    """Every check `operation` with validated input `inp` must pass, the operation's own resource first."""
    if operation in TAG_OPERATIONS:
        return [_tagging(operation, inp, arn)]
    verb, info = kind_of(operation)
    action = f"{SERVICE}:{operation}"
    if info.kind is Kind.MESH and verb == "List":
        return [Check(action, "*", None)]
    values = inp.model_dump(by_alias=True)
    if verb == "List":
        parent = _list_parent(info, values)
        return [Check(action, arn(parent), parent)]
    key = info.key_of(values["meshName"], values)
    tags = {t.key: t.value for t in getattr(inp, "tags", None) or ()}
    tag_keys = tuple(tags) if tags else None
    found = [Check(action, arn(key), key, tags, tag_keys)]
    if verb in ("Create", "Update") and inp.spec is not None:
        found += [Check(action, arn(ref), ref, tags, tag_keys) for ref in sorted(named_resources(key, inp.spec))]
    if verb == "Create" and tags:
        found.append(Check(f"{SERVICE}:TagResource", arn(key), key, tags, tag_keys))
    return found


def kind_of(operation: str) -> tuple[str, KindInfo]:
    """(`Create`, `Describe`, `Update`, `Delete` or `List`, the kind) of a resource operation."""
    for verb in VERBS:
        if operation.startswith(verb):
            type_name = operation[len(verb):]
            if verb == "List":
                type_name = "Mesh" if type_name == "Meshes" else type_name.removesuffix("s")
            if type_name in BY_TYPE_NAME:
                return verb, BY_TYPE_NAME[type_name]
    raise ValueError(f"{operation} is not an App Mesh resource operation")


def named_resources(key: ResourceKey, spec: Any) -> frozenset[ResourceKey]:
    """The resources a spec names: its references, and a virtual node's backend services."""
    named = set(references(key, spec))
    if key.kind is Kind.VIRTUAL_NODE:
        for backend in spec.backends or ():
            service = getattr(backend, "virtual_service", None)
            if service is not None:
                named.add(ResourceKey(Kind.VIRTUAL_SERVICE, key.mesh, service.virtual_service_name))
    return frozenset(named)


def resource_key(resource_arn: str, arn: ArnOf) -> ResourceKey | None:
    """The stored resource an ARN names, when it is one of this stack's account and region."""
    try:
        key = ResourceKey.from_arn(resource_arn)
    except ValueError:
        return None
    return key if arn(key) == resource_arn else None


def _tagging(operation: str, inp: Any, arn: ArnOf) -> Check:
    return tag_check(SERVICE, operation, inp, resource_key(inp.resource_arn, arn))


def tag_check(service: str, operation: str, inp: Any, key: DependencyKey | None) -> Check:
    """`<service>:<operation>` on the ARN a tag operation names; `key`: the stored resource it is, if any."""
    action, resource = f"{service}:{operation}", inp.resource_arn
    if operation == "TagResource":
        tags = {t.key: t.value for t in inp.tags}
        return Check(action, resource, key, tags, tuple(tags))
    if operation == "UntagResource":
        return Check(action, resource, key, {}, tuple(inp.tag_keys))
    return Check(action, resource, key)


def _list_parent(info: KindInfo, values: Mapping[str, Any]) -> ResourceKey:
    mesh = values["meshName"]
    if info.parent_field is None:
        return ResourceKey(Kind.MESH, mesh, mesh)
    parent_kind = info.kind.parent_kind
    assert parent_kind is not None
    return ResourceKey(parent_kind, mesh, values[info.parent_field])
