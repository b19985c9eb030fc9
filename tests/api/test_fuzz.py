"""Malformed and random bodies at every operation: always a 4xx with a message, never a change of state."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from meshplane.api.routes import Operation, operations

from .conftest import CREDENTIALS
from .specs import gateway_route, gateway_spec, http_route, node_spec, router_spec

LABELS = {
    "virtualNodeName": "n",
    "virtualRouterName": "r",
    "routeName": "rt",
    "virtualServiceName": "svc",
    "virtualGatewayName": "gw",
    "gatewayRouteName": "g",
}
STRUCTURED = ("spec", "tags", "tagKeys")  # body members that must be an object or a list (null means absent)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


def malformed_bodies(op: Operation) -> st.SearchStrategy[bytes]:
    """Bodies no operation may accept: broken JSON, non-objects, unknown fields, or wrong-typed members."""
    broken = st.binary(max_size=64).map(lambda raw: raw + b"\x00")
    not_object = (json_scalars | st.lists(json_values, max_size=3)).map(lambda v: json.dumps(v).encode())
    unknown = st.tuples(
        st.dictionaries(st.sampled_from(sorted(op.body_members) or ["x"]), json_values, max_size=3),
        st.text(min_size=1, max_size=8).map(lambda k: f"zz{k}"),
        json_values,
    ).map(lambda t: json.dumps({**t[0], t[1]: t[2]}).encode())
    choices = [broken, not_object, unknown]
    structured = [m for m in STRUCTURED if m in op.body_members]
    if structured:
        not_null = st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
        wrong_type = st.tuples(st.sampled_from(structured), not_null).map(
            lambda t: json.dumps({t[0]: t[1]}).encode()
        )
        choices.append(wrong_type)
    return st.one_of(*choices)


@pytest.fixture(scope="module")
def world(stack: Any) -> dict[str, Any]:
    """A mesh holding one resource of each kind, so every path names something that exists."""
    client = stack.appmesh()
    mesh = "fuzz-world"
    client.create_mesh(meshName=mesh)
    client.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec(80))
    client.create_virtual_router(meshName=mesh, virtualRouterName="r", spec=router_spec())
    client.create_route(meshName=mesh, virtualRouterName="r", routeName="rt", spec=http_route(("n", 1)))
    client.create_virtual_service(meshName=mesh, virtualServiceName="svc", spec={})
    client.create_virtual_gateway(meshName=mesh, virtualGatewayName="gw", spec=gateway_spec())
    client.create_gateway_route(meshName=mesh, virtualGatewayName="gw", gatewayRouteName="g", spec=gateway_route("svc"))
    arn = client.describe_mesh(meshName=mesh)["mesh"]["metadata"]["arn"]
    return {"mesh": mesh, "arn": arn}


def _table_state(stack: Any) -> list[dict[str, Any]]:
    dynamodb = boto3.client("dynamodb", endpoint_url=stack.aws_endpoint, **CREDENTIALS)
    items = dynamodb.scan(TableName=stack.table, ConsistentRead=True)["Items"]
    return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


def _url(stack: Any, op: Operation, world: dict[str, Any]) -> str:
    path = op.pattern.pattern.strip("^$").replace("\\", "")
    for label, value in {**LABELS, "meshName": world["mesh"]}.items():
        path = path.replace(f"(?P<{label}>[^/]+)", value)
    return stack.api_endpoint + path


@pytest.mark.parametrize("op", operations(), ids=lambda op: op.name)
def test_malformed_bodies_get_a_4xx_with_a_message_and_change_nothing(
    stack: Any, world: dict[str, Any], op: Operation
) -> None:
    url = _url(stack, op, world)
    params = {"resourceArn": world["arn"]} if "resourceArn" in op.query_members else {}
    before = _table_state(stack)

    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(body=malformed_bodies(op))
    def check(body: bytes) -> None:
        response = requests.request(op.method, url, params=params, data=body, timeout=10)
        assert 400 <= response.status_code < 500, (response.status_code, body, response.text)
        assert response.headers["x-amzn-ErrorType"].endswith("Exception")
        assert response.json()["message"]

    check()
    assert _table_state(stack) == before
