"""Map a definition's property names onto the App Mesh API's wire members, driven by the generated shapes.

CloudFormation spells members in PascalCase and writes acronyms in capitals
(`Spec.Listeners[].TLS.Certificate.ACM.CertificateArn`, `ServiceDiscovery.AWSCloudMap`), the
App Mesh controller's CRDs in camelCase with a few acronyms (`certificateARN`,
`certificateAuthorityARNs`).  Every such name is the API member whose name matches it
case-insensitively, so no list of names is kept here: each structure's members come from
`meshplane.model.shapes`, generated from the botocore model, and the walk follows each
member's type.  tests/migrate/test_wire.py checks this against every property of the
CloudFormation resource schemas and the controller's CRD schemas.

A source may carry members the API does not have (the CRDs' `virtualServiceRef`); a
`Rename` hook turns those into API members, or the walk refuses them, naming the place.
CloudFormation hands numbers and booleans from parameters over as strings, so with
`coerce` a string is read as the integer or boolean the member's type asks for.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Literal, Union

from meshplane.migrate.errors import SourceError
from meshplane.model.base import AppMeshModel

DROPPED = ("", None)  # what a Rename returns for a source member the API never had and that is read past
# (model, source key, value, source path) -> (wire member, wire value), DROPPED, or None when the key is not the hook's
Rename = Callable[[type[AppMeshModel], str, Any, str], "tuple[str, Any] | None"]


@dataclass(frozen=True)
class Member:
    wire: str  # the member's name on the wire (camelCase)
    annotation: Any


@cache
def members(model: type[AppMeshModel]) -> dict[str, Member]:
    """The wire members of `model`, keyed by their lower-case name (unique in every App Mesh shape)."""
    found: dict[str, Member] = {}
    for attr, info in model.model_fields.items():
        wire = info.alias or attr
        if wire.lower() in found:
            raise TypeError(f"{model.__name__}: members {found[wire.lower()].wire!r} and {wire!r} differ only in case")
        found[wire.lower()] = Member(wire, info.annotation)
    return found


def member(model: type[AppMeshModel], key: str) -> Member | None:
    """The member of `model` that `key` names, in any letter case."""
    return members(model).get(key.lower())


Loc = tuple[str | int, ...]  # a place in the wire form, as pydantic's error `loc` names it


@dataclass(frozen=True)
class _Walk:
    coerce: bool
    rename: Rename | None
    paths: dict[Loc, str]  # wire place -> the source's spelling of it, for messages after validation


def to_wire(value: Any, model: type[AppMeshModel], path: str, *, coerce: bool = False,
            rename: Rename | None = None, paths: dict[Loc, str] | None = None) -> dict[str, Any]:
    """`value` (a mapping in the source's spelling) as the wire form of `model`; SourceError names the path.

    `paths`, when given, receives the source's spelling of every wire place (`source_path`).
    """
    walk = _Walk(coerce, rename, paths if paths is not None else {})
    walk.paths[()] = path
    return _structure(value, model, path, (), walk)


def source_path(paths: dict[Loc, str], loc: Loc) -> str:
    """How the source spells the wire place `loc`: its longest known prefix, then the rest as the API spells it."""
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in paths:
            rest = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc[cut:])
            return f"{paths[loc[:cut]]}{rest}".lstrip(".")
    return ".".join(str(p) for p in loc)


def _structure(value: Any, model: type[AppMeshModel], path: str, loc: Loc, walk: _Walk) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SourceError(None, path, f"must be an object ({_type_name(model)}), got {_shown(value)}")
    out: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise SourceError(None, path, f"property names must be strings, got {key!r}")
        where = f"{path}.{key}" if path else key
        found = member(model, key)
        if found is None:
            renamed = walk.rename(model, key, item, where) if walk.rename is not None else None
            if renamed is None:
                known = ", ".join(sorted(m.wire for m in members(model).values()))
                raise SourceError(None, where, f"unknown property; {_type_name(model)} has: {known}")
            if renamed == DROPPED:
                continue
            wire, converted = renamed
            if wire in out:
                raise SourceError(None, where, f"sets {wire!r} a second time")
            out[wire] = converted
            walk.paths[(*loc, wire)] = where
            continue
        if found.wire in out:
            raise SourceError(None, where, f"sets {found.wire!r} a second time")
        if item is None:
            continue  # an explicit null is an unset member, as in the API
        out[found.wire] = _value(item, found.annotation, where, (*loc, found.wire), walk)
    return out


def _value(value: Any, annotation: Any, path: str, loc: Loc, walk: _Walk) -> Any:
    walk.paths[loc] = path
    kind, inner = _unwrap(annotation)
    if kind == "model":
        return _structure(value, inner, path, loc, walk)
    if kind == "list":
        if not isinstance(value, list):
            raise SourceError(None, path, f"must be a list, got {_shown(value)}")
        return [_value(item, inner, f"{path}[{i}]", (*loc, i), walk) for i, item in enumerate(value)]
    return _scalar(value, inner, path, walk.coerce)


def _scalar(value: Any, python_type: Any, path: str, coerce: bool) -> Any:
    if python_type is bool:
        if isinstance(value, bool):
            return value
        if coerce and isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise SourceError(None, path, f"must be true or false, got {_shown(value)}")
    if python_type is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if coerce and isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        raise SourceError(None, path, f"must be an integer, got {_shown(value)}")
    if python_type is datetime:
        return value
    # strings and enums
    if isinstance(value, str):
        return value
    if coerce and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise SourceError(None, path, f"must be a string, got {_shown(value)}")


def _unwrap(annotation: Any) -> tuple[str, Any]:
    """('model', cls), ('list', item annotation) or ('scalar', python type) of a field annotation."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        else:
            break
    if origin is list:
        return "list", typing.get_args(annotation)[0]
    if origin is Literal:
        return "scalar", str
    if isinstance(annotation, type) and issubclass(annotation, AppMeshModel):
        return "model", annotation
    return "scalar", annotation


def structure_of(annotation: Any) -> type[AppMeshModel] | None:
    """The structure a member holds (or the items of its list hold), or None for a scalar."""
    kind, inner = _unwrap(annotation)
    if kind == "list":
        kind, inner = _unwrap(inner)
    return inner if kind == "model" else None


def _type_name(model: type[AppMeshModel]) -> str:
    return model.__name__


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
