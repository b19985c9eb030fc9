"""The largest resource the API accepts fits one DynamoDB item: `store.limits`' budget, built and measured.

The worst case is a route: the longest mesh, router and route names, fifty tags
of the longest keys and values in four-byte characters, ten remembered client
tokens, and a spec at `SPEC_MAX_BYTES`.  It is created through the API and the
stored item is measured by DynamoDB's documented sizing rules.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import boto3
from meshplane.model.names import MAX_CHARS
from meshplane.store.limits import (
    ITEM_MAX_BYTES,
    ITEM_RESERVE_BYTES,
    MAX_TAGS_PER_RESOURCE,
    SPEC_MAX_BYTES,
    TAG_KEY_MAX_CHARS,
    TAG_VALUE_MAX_CHARS,
    TAGS_MAX_BYTES,
)
from meshplane.store.schema import deserializer

from .conftest import CREDENTIALS
from .specs import http_route, node_spec, router_spec

WIDE = "\U0001F600"  # four bytes in UTF-8
TOKENS_KEPT = 10


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's item size: attribute names plus values (strings in UTF-8, numbers at most 21 bytes,
    lists and maps 3 bytes plus 1 per element and their elements' sizes)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, int | Decimal):
        return 21
    if isinstance(value, dict):
        return 3 + sum(1 + len(k.encode()) + _value_size(v) for k, v in value.items())
    if isinstance(value, list | set):
        return 3 + sum(1 + _value_size(v) for v in value)
    raise TypeError(type(value))


def _route_spec_of_size(size: int) -> dict[str, Any]:
    """A route whose stored spec (compact JSON) is exactly `size` bytes."""
    spec = http_route(("n", 1), prefix="/")
    spec["httpRoute"]["match"]["prefix"] = "/" + "p" * (size - len(json.dumps(spec, separators=(",", ":"))))
    assert len(json.dumps(spec, separators=(",", ":"))) == size
    return spec


def test_the_largest_accepted_route_fits_one_item_and_everything_but_spec_and_tags_fits_the_reserve(
    stack: Any,
) -> None:
    appmesh = stack.appmesh()
    mesh = ("m" + uuid.uuid4().hex).ljust(MAX_CHARS, "m")
    router, route = "r" * MAX_CHARS, "x" * MAX_CHARS
    appmesh.create_mesh(meshName=mesh)
    appmesh.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec(80))
    appmesh.create_virtual_router(meshName=mesh, virtualRouterName=router, spec=router_spec())
    tags = [{"key": f"{i:02d}" + WIDE * (TAG_KEY_MAX_CHARS - 2), "value": WIDE * TAG_VALUE_MAX_CHARS}
            for i in range(MAX_TAGS_PER_RESOURCE)]
    small, largest = http_route(("n", 1)), _route_spec_of_size(SPEC_MAX_BYTES)
    appmesh.create_route(meshName=mesh, virtualRouterName=router, routeName=route, spec=small, tags=tags,
                         clientToken=str(uuid.uuid4()))
    # the largest spec comes last: moto counts the old value of an updated attribute beside the new one
    for spec in [small] * (TOKENS_KEPT - 1) + [largest]:
        appmesh.update_route(meshName=mesh, virtualRouterName=router, routeName=route, spec=spec,
                             clientToken=str(uuid.uuid4()))

    dynamodb = boto3.client("dynamodb", endpoint_url=stack.aws_endpoint, **CREDENTIALS)
    raw = dynamodb.get_item(TableName=stack.table, Key={"pk": {"S": f"MESH#{mesh}"},
                                                        "sk": {"S": f"route#{router}#{route}"}})["Item"]
    item = {name: deserializer().deserialize(value) for name, value in raw.items()}
    assert len(item["tokens"]) == TOKENS_KEPT and len(item["tags"]) == MAX_TAGS_PER_RESOURCE
    assert len(item["spec"].encode()) == SPEC_MAX_BYTES
    rest = {name: value for name, value in item.items() if name not in ("spec", "tags")}
    assert item_size(rest) <= ITEM_RESERVE_BYTES / 2  # the reserve keeps twice the worst case
    assert item_size({"tags": item["tags"]}) <= TAGS_MAX_BYTES
    assert item_size(item) <= ITEM_MAX_BYTES
