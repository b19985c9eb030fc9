"""A live read of an account's App Mesh resources, with boto3, while App Mesh still answers.

Lists every mesh (or the chosen ones) and every resource in each, describes each one and
reads its tags, then hands the describe outputs to the export reader, so a live read and
a saved export are one format (`--save` writes it for later).  Any API error stops the
read: a partial read would import a partial mesh.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from meshplane.migrate.appmesh import list_key, payload, snake, tags
from meshplane.model.ids import Kind
from meshplane.store.kinds import KINDS

_CHILD_KINDS = (Kind.VIRTUAL_NODE, Kind.VIRTUAL_SERVICE, Kind.VIRTUAL_ROUTER, Kind.VIRTUAL_GATEWAY)
_NESTED = {Kind.VIRTUAL_ROUTER: Kind.ROUTE, Kind.VIRTUAL_GATEWAY: Kind.GATEWAY_ROUTE}


def _pages(client: Any, kind: Kind, **arguments: Any) -> Iterator[dict[str, Any]]:
    operation = "list_meshes" if kind is Kind.MESH else f"list_{snake(KINDS[kind].type_name)}s"
    for page in client.get_paginator(operation).paginate(**arguments):
        yield from page[list_key(kind)]


def _describe(client: Any, kind: Kind, ref: dict[str, Any]) -> dict[str, Any]:
    info = KINDS[kind]
    names = {f: ref[f] for f in dict.fromkeys(["meshName", info.name_field, info.parent_field]) if f}
    if ref.get("meshOwner") and ref.get("meshOwner") != ref.get("resourceOwner"):
        names["meshOwner"] = ref["meshOwner"]
    data = getattr(client, f"describe_{snake(info.type_name)}")(**names)[payload(kind)]
    found = tags(client, data["metadata"]["arn"])
    return {payload(kind): _jsonable(data), "tags": [{"key": k, "value": v} for k, v in sorted(found.items())]}


def read(client: Any, meshes: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Describe outputs (each with its tags) of every resource in `meshes`, or in every mesh of the account."""
    chosen = set(meshes)
    documents: list[dict[str, Any]] = []
    for mesh in _pages(client, Kind.MESH):
        if chosen and mesh["meshName"] not in chosen:
            continue
        documents.append(_describe(client, Kind.MESH, mesh))
        owner = {"meshOwner": mesh["meshOwner"]} if mesh.get("meshOwner") != mesh.get("resourceOwner") else {}
        for kind in _CHILD_KINDS:
            for ref in _pages(client, kind, meshName=mesh["meshName"], **owner):
                documents.append(_describe(client, kind, ref))
                nested = _NESTED.get(kind)
                if nested is None:
                    continue
                parent = {KINDS[kind].name_field: ref[KINDS[kind].name_field]}
                for child in _pages(client, nested, meshName=mesh["meshName"], **parent, **owner):
                    documents.append(_describe(client, nested, child))
    missing = chosen - {d["mesh"]["meshName"] for d in documents if "mesh" in d}
    if missing:
        raise LookupError(f"--mesh {sorted(missing)[0]}: no such mesh in the account")
    return documents


def _jsonable(value: Any) -> Any:
    """botocore's datetimes as the AWS CLI prints them (ISO 8601), so a saved read is plain JSON."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
