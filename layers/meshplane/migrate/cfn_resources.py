"""The `AWS::AppMesh::*` resource types of CloudFormation, in App Mesh API terms.

Shared by `meshplane import` (templates resolved offline) and the custom resource
provider (properties CloudFormation resolved).  A resource's top-level properties are
`MeshName`, its own name (`VirtualNodeName`...), its parent's (`VirtualRouterName` for a
route, `VirtualGatewayName` for a gateway route), `MeshOwner`, `Spec` and `Tags`; the
names are the API's name members spelt in PascalCase (`store.kinds`), and `Spec` maps
onto the kind's generated spec shape (`wire`).  What `Fn::GetAtt` offers is what
App Mesh's resource types returned: `Arn`, `Uid`, `MeshName`, `MeshOwner`,
`ResourceOwner` and the resource's (and its parent's) name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from meshplane.migrate.desired import Desired
from meshplane.migrate.errors import Origin, SourceError
from meshplane.migrate.wire import to_wire
from meshplane.model.ids import Kind, ResourceKey
from meshplane.store.kinds import KINDS, KindInfo

TYPE_PREFIX = "AWS::AppMesh::"
CUSTOM_PREFIX = "Custom::Meshplane"  # what the Meshplane macro turns AWS::AppMesh::<Type> into
TYPES: dict[str, Kind] = {f"{TYPE_PREFIX}{info.type_name}": kind for kind, info in KINDS.items()}
READ_ONLY = ("Arn", "Id", "Uid", "ResourceOwner")  # attributes only: a template cannot set them


def pascal(wire: str) -> str:
    """`virtualNodeName` -> `VirtualNodeName`: CloudFormation's spelling of a top-level member."""
    return wire[0].upper() + wire[1:]


def name_property(kind: Kind) -> str:
    return pascal(KINDS[kind].name_field)


def parent_property(kind: Kind) -> str | None:
    parent = KINDS[kind].parent_field
    return pascal(parent) if parent else None


def settable_properties(kind: Kind) -> set[str]:
    """The properties a template may set: the names, Spec and Tags (MeshOwner on a mesh's children)."""
    parent = parent_property(kind)
    names = {"MeshName", name_property(kind), *([parent] if parent else [])}
    return {*names, "Spec", "Tags"} | (set() if kind is Kind.MESH else {"MeshOwner"})


def kind_of_type(resource_type: str) -> Kind | None:
    """The kind of `AWS::AppMesh::<Type>`, or of the `Custom::Meshplane<Type>` the macro makes of it."""
    if resource_type.startswith(CUSTOM_PREFIX):
        resource_type = TYPE_PREFIX + resource_type[len(CUSTOM_PREFIX):]
    return TYPES.get(resource_type)


def custom_type(kind: Kind) -> str:
    """`Custom::MeshplaneVirtualNode`: the type the macro gives an `AWS::AppMesh::VirtualNode`."""
    return f"{CUSTOM_PREFIX}{KINDS[kind].type_name}"


def desired_from_properties(kind: Kind, properties: Mapping[str, Any], origin: Origin,
                            default_name: str | None = None, prefix: str = "") -> Desired:
    """The Desired resource a resolved `AWS::AppMesh::<Kind>` declares.

    `default_name` stands in for a name property the resource leaves out (CloudFormation
    generated one); without it a missing name is an error.  `prefix` is prepended to the
    property paths errors name (`Properties.` for a template).
    """
    try:
        return _desired(kind, properties, origin, default_name, prefix)
    except SourceError as error:
        field = f"{prefix}{error.field}" if error.field else prefix.rstrip(".") or None
        raise SourceError(error.origin or origin, field, error.message) from None


def identity(kind: Kind, properties: Mapping[str, Any], origin: Origin,
             default_name: str | None = None) -> tuple[ResourceKey, str | None]:
    """The key and mesh owner the name properties of a resolved resource give."""
    is_mesh = kind is Kind.MESH
    mesh = _name(properties, "MeshName", origin, default_name if is_mesh else None, generated=is_mesh)
    name = mesh if is_mesh else _name(properties, name_property(kind), origin, default_name)
    parent_prop = parent_property(kind)
    parent = _name(properties, parent_prop, origin, None, generated=False) if parent_prop else None
    owner = properties.get("MeshOwner")
    if owner is not None and not isinstance(owner, str):
        raise SourceError(origin, "MeshOwner", "must be an account id string")
    return ResourceKey(kind, mesh, name, parent), owner or None


def _desired(kind: Kind, properties: Mapping[str, Any], origin: Origin, default_name: str | None,
             prefix: str) -> Desired:
    info = KINDS[kind]
    if not isinstance(properties, Mapping):
        raise SourceError(origin, "Properties", "must be an object")
    known = settable_properties(kind)
    read_only = (*READ_ONLY, "MeshOwner") if kind is Kind.MESH else READ_ONLY  # a mesh's owner is the account
    for prop in properties:
        if prop in read_only:
            raise SourceError(origin, prop, "is an attribute App Mesh sets, not a property a template sets")
        if prop not in known:
            raise SourceError(origin, prop, f"unknown property of {TYPE_PREFIX}{info.type_name}; "
                                            f"it has {', '.join(sorted(known))}")
    key, owner = identity(kind, properties, origin, default_name)
    paths: dict[tuple[str | int, ...], str] = {}
    spec = to_wire(properties.get("Spec") or {}, info.spec, "Spec", coerce=True, paths=paths)
    return Desired(key, spec, origin, tags=tags_of(properties, origin), mesh_owner=owner,
                   paths={loc: f"{prefix}{p}" for loc, p in paths.items()})


def tags_of(properties: Mapping[str, Any], origin: Origin | None) -> dict[str, str]:
    """`Tags: [{Key, Value}]` as a dict; absent means none, as CloudFormation applies it."""
    raw = properties.get("Tags")
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise SourceError(origin, "Tags", "must be a list of {Key, Value}")
    tags: dict[str, str] = {}
    for i, tag in enumerate(raw):
        if not isinstance(tag, Mapping) or set(tag) != {"Key", "Value"}:
            raise SourceError(origin, f"Tags[{i}]", "must be {Key, Value}")
        key, value = tag["Key"], tag["Value"]
        if not isinstance(key, str) or not isinstance(value, str | int | float) or isinstance(value, bool):
            raise SourceError(origin, f"Tags[{i}]", "Key and Value must be strings")
        if key in tags:
            raise SourceError(origin, f"Tags[{i}].Key", f"{key!r} is given twice")
        tags[key] = str(value)
    return tags


def attributes(kind: Kind, data: Mapping[str, Any]) -> dict[str, str]:
    """What `Fn::GetAtt` returns for a resource, from its API data (`describe_*` output's resource)."""
    info: KindInfo = KINDS[kind]
    metadata = data["metadata"]
    values = {
        "Arn": metadata["arn"],
        "Uid": metadata["uid"],
        "MeshName": data["meshName"],
        "MeshOwner": metadata["meshOwner"],
        "ResourceOwner": metadata["resourceOwner"],
    }
    if kind is not Kind.MESH:
        values[name_property(kind)] = data[info.name_field]
    if info.parent_field:
        values[pascal(info.parent_field)] = data[info.parent_field]
    return values


def attribute_names(kind: Kind) -> tuple[str, ...]:
    names = ["Arn", "Uid", "MeshName", "MeshOwner", "ResourceOwner"]
    if kind is not Kind.MESH:
        names.append(name_property(kind))
    parent = parent_property(kind)
    if parent:
        names.append(parent)
    return tuple(names)


def _name(properties: Mapping[str, Any], prop: str, origin: Origin, default: str | None,
          *, generated: bool = True) -> str:
    value = properties.get(prop)
    if value is None or value == "":
        if default is not None:
            return default
        reason = ("is required here: CloudFormation generated a name at deploy time, which an offline import "
                  "cannot know, so name the resource") if generated else "is required"
        raise SourceError(origin, prop, reason)
    if not isinstance(value, str):
        raise SourceError(origin, prop, f"must be a string, got {value!r}")
    return value
