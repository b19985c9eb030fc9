"""The App Mesh name rule: what it accepts, what it refuses, where the shapes apply it, and why bytes never overflow."""

from __future__ import annotations

from typing import Any

import botocore.loaders
import pytest
from meshplane.model import names, shapes
from meshplane.model.ids import Kind, ResourceKey
from meshplane.store import endpoints, index, pointers, schema
from meshplane.store.limits import PARTITION_KEY_MAX_BYTES, SORT_KEY_MAX_BYTES
from pydantic import ValidationError

GOOD = ["color-v2", "my_service.local", "color_default", "Blue", "v1.2.3", "_internal", "a", "x" * 255,
        "color.default.svc.cluster.local", "9lives"]
BAD = {
    "NUL": "a\x00b",
    "TAB": "a\tb",
    "CR": "a\rb",
    "LF": "a\nb",
    "CRLF": "a\r\nb",
    "bidi override U+202E": "abc\u202etxt.exe",
    "BOM": "\ufeffname",
    "zero width space": "a\u200bb",
    "space": "a b",
    "IAM wildcard *": "front-*",
    "IAM wildcard ?": "front-?",
    "dot dot": "a..b",
    "parent dir": "..",
    "dot": ".",
    "leading hyphen": "-rf",
    "slash": "a/b",
    "hash": "a#b",
    "policy variable": "${aws:username}",
    "emoji": "\U0001F600" * 255,
    "accented letter": "caf\u00e9",
    "empty": "",
    "too long": "x" * 256,
}
# every botocore shape the rule applies to (resource names; a virtual service name is a name too)
NAME_SHAPES = {"ResourceName", "ServiceName"}


@pytest.mark.parametrize("name", GOOD)
def test_names_app_mesh_users_use_are_accepted(name: str) -> None:
    assert names.problem(name) is None
    assert shapes.CreateMeshInput.model_validate({"meshName": name}).mesh_name == name


@pytest.mark.parametrize("name", BAD.values(), ids=list(BAD))
def test_control_format_wildcard_and_path_characters_are_refused(name: str) -> None:
    assert names.problem(name)
    with pytest.raises(ValidationError) as info:
        shapes.CreateMeshInput.model_validate({"meshName": name})
    assert info.value.errors()[0]["loc"] == ("meshName",)


def test_a_refused_character_is_shown_as_its_code_point_never_raw() -> None:
    reason = names.problem("abc\u202etxt")
    assert reason is not None and "U+202E" in reason and "\u202e" not in reason


def _name_members() -> list[tuple[str, str]]:
    model = botocore.loaders.Loader().load_service_model("appmesh", "service-2")
    found = []
    for structure, shape in model["shapes"].items():
        if shape["type"] != "structure" or shape.get("exception"):
            continue
        found += [(structure, member) for member, spec in shape["members"].items() if spec["shape"] in NAME_SHAPES]
    return found


def _minimal(cls: type[shapes.AppMeshModel], member: str, value: str) -> dict[str, Any]:
    """Just enough of `cls` to reach `member`: the other required strings get a valid name."""
    required = {f.alias or n for n, f in cls.model_fields.items() if f.is_required()}
    return {**{field: "ok" for field in required}, member: value}


@pytest.mark.parametrize(("structure", "member"), _name_members())
def test_every_name_field_of_the_model_refuses_a_wildcard(structure: str, member: str) -> None:
    """Names in inputs, URI labels and references inside specs alike: the shapes apply the rule generically."""
    cls = getattr(shapes, structure)
    with pytest.raises(ValidationError) as info:
        cls.model_validate(_minimal(cls, member, "front-*"))
    assert any(error["loc"] == (member,) and "'*'" in error["msg"] for error in info.value.errors())


def test_there_are_name_fields_in_every_kind_of_input() -> None:
    members = {member for _, member in _name_members()}
    assert {"meshName", "virtualNodeName", "virtualRouterName", "routeName", "virtualServiceName",
            "virtualGatewayName", "gatewayRouteName", "virtualNode"} <= members


@pytest.mark.parametrize("arn", [
    "arn:aws:appmesh:us-east-1:123456789012:mesh/" + "a" * 3000,
    "arn:aws:appmesh:us-east-1:123456789012:mesh/m/virtualNode/front-*",
    "arn:aws:appmesh:us-east-1:123456789012:mesh/m/virtualRouter/r\x00/route/x",
    "arn:aws:s3:::bucket",
])
def test_the_arn_an_operation_acts_on_must_name_a_resource_by_the_rule(arn: str) -> None:
    with pytest.raises(ValidationError) as info:
        shapes.ListTagsForResourceInput.model_validate({"resourceArn": arn})
    assert info.value.errors()[0]["loc"] == ("resourceArn",)


def test_a_valid_resource_arn_passes() -> None:
    arn = "arn:aws:appmesh:us-east-1:123456789012:mesh/m/virtualRouter/r/route/color-v2"
    assert shapes.TagResourceInput.model_validate({"resourceArn": arn, "tags": []}).resource_arn == arn


def _longest_keys() -> list[tuple[str, str]]:
    """(pk, sk) of every item the store writes, for the longest names the rule allows."""
    longest = "x" * names.MAX_CHARS
    keys: list[tuple[str, str]] = []
    for kind in Kind:
        parent = longest if kind.parent_kind is not None else None
        key = ResourceKey(kind, longest, longest, parent)
        keys += [tuple(schema.item_key(key).values()), (schema.mesh_pk(key.mesh), schema.counter_sk(key))]
        node_path = index.resource_path(key)
        keys += [(index.partition(key.mesh), node_path), (pointers.partition(node_path), pointers.POINTER_SK)]
    keys += [(schema.MESH_LIST_PK, longest),
             (endpoints.partition(longest, longest), f"{endpoints.ITEM_PREFIX}cloudmap#" + "x" * 64)]
    return keys  # type: ignore[return-value]


def test_the_longest_names_fit_dynamodbs_key_limits_in_bytes() -> None:
    """ASCII names make characters bytes; the composite keys (mesh + parent + name) stay under DynamoDB's limits."""
    for pk, sk in _longest_keys():
        assert len(pk.encode()) <= PARTITION_KEY_MAX_BYTES, pk[:40]
        assert len(sk.encode()) <= SORT_KEY_MAX_BYTES, sk[:40]


def test_the_name_rule_admits_only_single_byte_characters() -> None:
    assert all(names.problem(f"a{chr(code)}") is not None for code in range(0x80, 0x3000))
