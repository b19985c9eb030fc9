"""Hostile request content at the App Mesh API: a 4xx in App Mesh's shape naming the field, and nothing stored.

Each case here was a 500 (or was stored, and so could poison every snapshot of
its mesh) before the edge refused it: deep JSON, oversized client tokens and
names, control and wildcard characters in names, specs larger than an item,
numbers Envoy cannot hold, and garbage in the query string.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
import requests
from meshplane.store.limits import SPEC_MAX_BYTES

from .hostile import API, HOSTILE_NAMES, NAMED, Request, build_world, state
from .specs import node_spec


def _send(stack: Any, method: str, path: str, body: bytes | None = None, **params: str) -> requests.Response:
    return requests.request(method, stack.api_endpoint + path, data=body, params=params or None, timeout=20)


def _bad_request(response: requests.Response, field: str) -> str:
    """Assert App Mesh's BadRequestException naming `field` first; the message."""
    assert response.status_code == 400, (response.status_code, response.text[:300])
    assert response.headers["x-amzn-ErrorType"] == "BadRequestException"
    message: str = response.json()["message"]
    assert message.startswith(f"{field}:"), message
    return message


_clients: dict[str, Any] = {}


def _state(stack: Any, mesh: str) -> dict[str, Any]:
    """`hostile.state` through one client per server (a boto3 client costs more to build than the calls)."""
    client = _clients.setdefault(stack.api_endpoint, stack.appmesh())
    return state(client, mesh)


@pytest.fixture(scope="module")
def world(stack: Any) -> str:
    """A mesh holding what every create below names (see `hostile.build_world`)."""
    build_world(stack.appmesh(), "hostile-world")
    return "hostile-world"


# --- 1. nesting ---------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [990, 5_000, 100_000])
@pytest.mark.parametrize("bracket", ["[]", '{"a":}'])
def test_json_nested_990_levels_or_more_is_bad_request_naming_the_body(stack: Any, depth: int,
                                                                       bracket: str) -> None:
    opening, closing = (b"[", b"]") if bracket == "[]" else (b'{"a":' , b"}")
    nested = opening * depth + b"1" + closing * depth
    response = _send(stack, "PUT", f"{API}/meshes", b'{"meshName":"deep","spec":' + nested + b"}")
    assert "nested too deeply" in _bad_request(response, "body")


def test_a_deeply_nested_next_token_is_bad_request(stack: Any) -> None:
    token = base64.urlsafe_b64encode(b"[" * 5_000).decode()
    _bad_request(_send(stack, "GET", f"{API}/meshes", nextToken=token), "nextToken")


# --- 2. client tokens ---------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["x" * 500_000, "x" * 37, "tok en", "t\u00f6ken"])
def test_a_client_token_app_mesh_would_refuse_is_bad_request_naming_it(
    stack: Any, world: str, unique: Callable[[str], str], token: str
) -> None:
    mesh = unique("tok")
    response = _send(stack, "PUT", f"{API}/meshes", json.dumps({"meshName": mesh, "clientToken": token}).encode())
    _bad_request(response, "clientToken")
    assert not [arn for arn, _ in _state(stack, world)["meshes"] if arn.endswith(f"mesh/{mesh}")]


def test_a_36_character_client_token_works(appmesh: Any, unique: Callable[[str], str]) -> None:
    token = "0f8fad5b-d9cb-469f-a165-70867728950e"
    first = appmesh.create_mesh(meshName=unique("tok"), clientToken=token)
    assert first["mesh"]["metadata"]["version"] == 1


# --- 3 and 4. names -----------------------------------------------------------------------------

@pytest.mark.parametrize(("where", "field", "request_of"), NAMED, ids=[f"{w}-{f.split('.')[-1]}" for w, f, _ in NAMED])
def test_hostile_names_are_bad_requests_naming_the_field_and_store_nothing(
    stack: Any, world: str, where: str, field: str, request_of: Callable[[str, str], Request]
) -> None:
    before = _state(stack, world)
    for case, name in HOSTILE_NAMES.items():
        method, path, body = request_of(world, name)
        response = _send(stack, method, path, None if body is None else json.dumps(body).encode())
        try:
            _bad_request(response, field)
        except AssertionError as exc:
            raise AssertionError(f"{case}: {exc}") from None
    assert _state(stack, world) == before


def test_an_encoded_slash_in_a_label_is_bad_request_naming_the_label(stack: Any, world: str) -> None:
    for path, field in [(f"{API}/meshes/{world}%2F..%2Fother", "meshName"),
                        (f"{API}/meshes/{world}/virtualNodes/n%2F..%2Fx", "virtualNodeName"),
                        (f"{API}/meshes/{world}/virtualNodes/%2E%2E", "virtualNodeName")]:
        _bad_request(_send(stack, "GET", path), field)


@pytest.mark.parametrize("name", ["color-v2", "my_service.local", "color_default", "V1.2"])
def test_names_app_mesh_users_use_keep_working(appmesh: Any, mesh: str, name: str) -> None:
    appmesh.create_virtual_node(meshName=mesh, virtualNodeName=name, spec=node_spec(80))
    appmesh.create_virtual_service(meshName=mesh, virtualServiceName=name, spec={})
    assert appmesh.describe_virtual_node(meshName=mesh, virtualNodeName=name)["virtualNode"]["virtualNodeName"] == name


@pytest.mark.parametrize("arn_name", ["front-*", "a" * 3_000, "n%00"])
def test_a_resource_arn_whose_names_break_the_rule_is_bad_request(stack: Any, mesh: str, arn_name: str) -> None:
    arn = f"arn:aws:appmesh:us-east-1:123456789012:mesh/{mesh}/virtualNode/{arn_name}"
    _bad_request(_send(stack, "GET", f"{API}/tags", resourceArn=arn), "resourceArn")


# --- item size and numbers ----------------------------------------------------------------------


def test_a_spec_larger_than_one_dynamodb_item_is_bad_request_naming_the_spec(stack: Any, mesh: str) -> None:
    spec = {"serviceDiscovery": {"dns": {"hostname": "h" * (SPEC_MAX_BYTES + 1)}}}
    body = json.dumps({"virtualNodeName": "big", "spec": spec}).encode()
    assert "when stored" in _bad_request(_send(stack, "PUT", f"{API}/meshes/{mesh}/virtualNodes", body), "spec")
    assert _state(stack, mesh)["nodes"] == []


def test_the_largest_storable_spec_is_stored(appmesh: Any, mesh: str) -> None:
    """The bound is what fits, not less: escapes count as they are stored (non-ASCII as \\uXXXX)."""
    base = {"serviceDiscovery": {"dns": {"hostname": ""}}}
    room = SPEC_MAX_BYTES - len(json.dumps(base, separators=(",", ":")))
    spec = {"serviceDiscovery": {"dns": {"hostname": "h" * (room - 6) + "\u00e9"}}}  # é is stored as 6 bytes
    appmesh.create_virtual_node(meshName=mesh, virtualNodeName="big", spec=spec)
    assert appmesh.describe_virtual_node(meshName=mesh, virtualNodeName="big")["virtualNode"]["spec"] == spec


@pytest.mark.parametrize(("listener", "field"), [
    ({"timeout": {"http": {"idle": {"unit": "s", "value": 10**30}}}}, "spec.listeners[0].timeout.http.idle.value"),
    ({"timeout": {"http": {"idle": {"unit": "s", "value": 2**62}}}}, "spec.listeners[0].timeout.http.idle.value"),
    ({"connectionPool": {"http": {"maxConnections": 2**40}}}, "spec.listeners[0].connectionPool.http.maxConnections"),
])
def test_numbers_envoy_cannot_hold_are_bad_requests(stack: Any, mesh: str, listener: dict[str, Any],
                                                   field: str) -> None:
    spec = {"listeners": [{"portMapping": {"port": 80, "protocol": "http"}, **listener}]}
    body = json.dumps({"virtualNodeName": "n", "spec": spec}).encode()
    _bad_request(_send(stack, "PUT", f"{API}/meshes/{mesh}/virtualNodes", body), field)
    assert _state(stack, mesh)["nodes"] == []


# --- 6. JSON the parser used to accept ----------------------------------------------------------


@pytest.mark.parametrize(("body", "says"), [
    (b'{"meshName": "dup", "meshName": "dup2"}', "duplicate key meshName"),
    (b'{"meshName": "nan", "spec": {"egressFilter": {"type": NaN}}}', "NaN"),
    (b'{"meshName": "inf", "spec": Infinity}', "Infinity"),
    (b'{"meshName": -Infinity}', "-Infinity"),
    ('{"meshName": "utf16"}'.encode("utf-16"), "not UTF-8"),
    (b'{"meshName": "latin\xe9"}', "not UTF-8"),
    (b'\xef\xbb\xbf{"meshName": "bom"}', "malformed JSON"),
])
def test_json_that_is_not_plain_utf8_json_is_bad_request_naming_the_body(stack: Any, body: bytes, says: str) -> None:
    assert says in _bad_request(_send(stack, "PUT", f"{API}/meshes", body), "body")


@pytest.mark.parametrize("limit", ["\uff11", "5\n"])  # a fullwidth digit, a trailing newline
def test_a_limit_that_is_not_a_plain_integer_is_bad_request(stack: Any, limit: str) -> None:
    _bad_request(_send(stack, "GET", f"{API}/meshes", limit=limit), "limit")


def test_an_unknown_query_parameter_is_named_but_not_echoed_whole(stack: Any) -> None:
    response = _send(stack, "GET", f"{API}/meshes", **{"z\u202e" + "q" * 10_000: "1"})
    assert response.status_code == 400 and response.headers["x-amzn-ErrorType"] == "BadRequestException"
    message = response.json()["message"]
    assert message.startswith("z\\u202eqqq") and "unknown query parameter" in message
    assert len(message) < 300


def test_an_unknown_nested_key_is_named_but_not_echoed_whole(stack: Any, mesh: str) -> None:
    body = json.dumps({"virtualNodeName": "n", "spec": {"\u202e" + "k" * 100_000: 1}}).encode()
    response = _send(stack, "PUT", f"{API}/meshes/{mesh}/virtualNodes", body)
    assert response.status_code == 400 and response.headers["x-amzn-ErrorType"] == "BadRequestException"
    message = response.json()["message"]
    assert message.startswith("spec.\\u202ekkk") and len(message) < 300, message[:300]
