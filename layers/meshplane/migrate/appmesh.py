"""The App Mesh API calls about one resource, through any boto3 `appmesh` client.

One place knows how a kind's operations are spelt (`create_virtual_node`, its payload
`virtualNode`, its name members), so `plan`, `apply` and the custom resource provider
call the API the same way whichever endpoint the client talks to: the deployed API,
`meshplane local up`, or the API in process (`inprocess`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from meshplane.migrate.desired import Desired
from meshplane.model.ids import Kind, ResourceKey
from meshplane.store.kinds import KINDS

TAG_PAGE = 50


def snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def payload(kind: Kind) -> str:
    """The member a kind's describe/create/update/delete output holds its data in: `virtualNode`."""
    type_name = KINDS[kind].type_name
    return type_name[0].lower() + type_name[1:]


def list_key(kind: Kind) -> str:
    """The member a kind's list output holds its refs in: `meshes`, `virtualNodes`."""
    return "meshes" if kind is Kind.MESH else f"{payload(kind)}s"


def error_code(exc: BaseException) -> str | None:
    return exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else None


def error_message(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}"
    return f"{type(exc).__name__}: {exc}"


def names(key: ResourceKey, mesh_owner: str | None = None) -> dict[str, Any]:
    """The name members every call about `key` takes (meshName, virtualRouterName, routeName...)."""
    info = KINDS[key.kind]
    arguments: dict[str, Any] = {"meshName": key.mesh}
    if key.kind is not Kind.MESH:
        arguments[info.name_field] = key.name
    if info.parent_field:
        arguments[info.parent_field] = key.parent
    if mesh_owner and key.kind is not Kind.MESH:
        arguments["meshOwner"] = mesh_owner
    return arguments


def _call(client: Any, verb: str, key: ResourceKey, **arguments: Any) -> dict[str, Any]:
    operation = getattr(client, f"{verb}_{snake(KINDS[key.kind].type_name)}")
    described: dict[str, Any] = operation(**arguments)[payload(key.kind)]
    return described


def describe(client: Any, key: ResourceKey, mesh_owner: str | None = None) -> dict[str, Any] | None:
    """The resource's data, or None when it does not exist."""
    try:
        return _call(client, "describe", key, **names(key, mesh_owner))
    except ClientError as exc:
        if error_code(exc) == "NotFoundException":
            return None
        raise


def create(client: Any, desired: Desired, token: str | None = None) -> dict[str, Any]:
    arguments = {**names(desired.key, desired.mesh_owner), "spec": desired.spec}
    if desired.tags:
        arguments["tags"] = tag_list(desired.tags)
    if token:
        arguments["clientToken"] = token
    return _call(client, "create", desired.key, **arguments)


def update(client: Any, desired: Desired, token: str | None = None) -> dict[str, Any]:
    arguments = {**names(desired.key, desired.mesh_owner), "spec": desired.spec}
    if token:
        arguments["clientToken"] = token
    return _call(client, "update", desired.key, **arguments)


def delete(client: Any, key: ResourceKey, mesh_owner: str | None = None) -> dict[str, Any]:
    return _call(client, "delete", key, **names(key, mesh_owner))


def tags(client: Any, arn: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for page in client.get_paginator("list_tags_for_resource").paginate(resourceArn=arn):
        found.update({t["key"]: t.get("value", "") for t in page["tags"]})
    return found


def retag(client: Any, arn: str, wanted: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
    """Make the tags of `arn` exactly `wanted`; the calls made, by name."""
    calls = []
    changed = {k: v for k, v in wanted.items() if current.get(k) != v}
    removed = sorted(set(current) - set(wanted))
    if changed:
        client.tag_resource(resourceArn=arn, tags=tag_list(changed))
        calls.append("TagResource")
    if removed:
        client.untag_resource(resourceArn=arn, tagKeys=removed)
        calls.append("UntagResource")
    return calls


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in sorted(tags.items())]
