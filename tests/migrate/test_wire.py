"""The CloudFormation name mapping is total and exact, checked against CloudFormation's own resource schemas.

cfn-lint ships the CloudFormation registry schemas of `AWS::AppMesh::*` (the authority on
the CloudFormation side); the generated shapes are the authority on the API side.  Every
property of every schema must map to exactly one API member, and every API member must be
reachable from one property, so neither side has a name the mapping cannot carry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cfnlint
import pytest
from meshplane.migrate import cfn_resources
from meshplane.migrate.errors import SourceError
from meshplane.migrate.wire import member, members, structure_of, to_wire
from meshplane.model import shapes
from meshplane.model.base import AppMeshModel
from meshplane.store.kinds import KINDS

SCHEMAS = Path(cfnlint.__file__).parent / "data" / "schemas"


def resource_schema(type_name: str) -> dict[str, Any]:
    providers = json.loads((SCHEMAS / "providers" / "us-east-1.json").read_text())
    return json.loads((SCHEMAS / "resources" / f"{providers[type_name]}.json").read_text())


def walk(schema: dict[str, Any], definitions: dict[str, Any], model: type[AppMeshModel], path: str,
         mapped: dict[str, str], reached: set[tuple[str, str]]) -> None:
    """Follow every property of `schema` into `model`, recording CloudFormation path -> API member."""
    if "$ref" in schema:
        schema = definitions[schema["$ref"].split("/")[-1]]
    if schema.get("type") == "array":
        schema = schema["items"]
        if "$ref" in schema:
            schema = definitions[schema["$ref"].split("/")[-1]]
    for prop, sub in (schema.get("properties") or {}).items():
        found = member(model, prop)
        assert found is not None, f"{path}.{prop} has no API member in {model.__name__}"
        mapped[f"{path}.{prop}"] = found.wire
        reached.add((model.__name__, found.wire))
        inner = structure_of(found.annotation)
        if inner is not None:
            walk(sub, definitions, inner, f"{path}.{prop}", mapped, reached)


def api_members(model: type[AppMeshModel], seen: set[tuple[str, str]]) -> None:
    for found in members(model).values():
        if (model.__name__, found.wire) in seen:
            continue
        seen.add((model.__name__, found.wire))
        inner = structure_of(found.annotation)
        if inner is not None:
            api_members(inner, seen)


@pytest.mark.parametrize("type_name", sorted(cfn_resources.TYPES))
def test_every_cloudformation_property_maps_to_one_api_member_and_back(type_name: str) -> None:
    schema = resource_schema(type_name)
    kind = cfn_resources.TYPES[type_name]
    mapped: dict[str, str] = {}
    reached: set[tuple[str, str]] = set()
    walk(schema["properties"]["Spec"], schema["definitions"], KINDS[kind].spec, "Spec", mapped, reached)
    every: set[tuple[str, str]] = set()
    api_members(KINDS[kind].spec, every)
    assert every - reached == set()  # no API member the template cannot set
    # the only spellings that are not the member with its first letter raised: acronyms in capitals
    odd = {path.rsplit(".", 1)[1]: wire for path, wire in mapped.items()
           if path.rsplit(".", 1)[1] != wire[0].upper() + wire[1:]}
    assert set(odd.items()) <= {("TLS", "tls"), ("ACM", "acm"), ("SDS", "sds"), ("DNS", "dns"), ("HTTP", "http"),
                                ("HTTP2", "http2"), ("GRPC", "grpc"), ("TCP", "tcp"), ("AWSCloudMap", "awsCloudMap")}


@pytest.mark.parametrize("type_name", sorted(cfn_resources.TYPES))
def test_top_level_properties_and_attributes_are_the_schema_s(type_name: str) -> None:
    schema = resource_schema(type_name)
    kind = cfn_resources.TYPES[type_name]
    settable = set(schema["properties"]) - {p.split("/")[-1] for p in schema["readOnlyProperties"]}
    assert settable == cfn_resources.settable_properties(kind)
    attributes = set(schema["properties"]) - {"Spec", "Tags", "Id"}
    assert set(cfn_resources.attribute_names(kind)) == attributes


def test_cloudformation_strings_become_the_numbers_and_booleans_the_shapes_ask_for() -> None:
    wire = to_wire({"Listeners": [{"PortMapping": {"Port": "9080", "Protocol": "http"}}],
                    "BackendDefaults": {"ClientPolicy": {"TLS": {"Enforce": "false", "Ports": ["443"],
                                                                 "Validation": {"Trust": {"ACM": {
                                                                     "CertificateAuthorityArns": ["arn:x"]}}}}}}},
                   shapes.VirtualNodeSpec, "Spec", coerce=True)
    assert wire == {"listeners": [{"portMapping": {"port": 9080, "protocol": "http"}}],
                    "backendDefaults": {"clientPolicy": {"tls": {"enforce": False, "ports": [443], "validation": {
                        "trust": {"acm": {"certificateAuthorityArns": ["arn:x"]}}}}}}}


def test_an_unknown_or_mistyped_member_is_refused_at_its_path() -> None:
    with pytest.raises(SourceError, match=r"Spec\.Listeners\[0\]\.PortMapping\.Prot: unknown property; PortMapping "
                                          r"has: port, protocol"):
        to_wire({"Listeners": [{"PortMapping": {"Port": 1, "Prot": "http"}}]}, shapes.VirtualNodeSpec, "Spec")
    with pytest.raises(SourceError, match=r"Spec\.Listeners\[0\]\.PortMapping\.Port: must be an integer"):
        to_wire({"Listeners": [{"PortMapping": {"Port": "80"}}]}, shapes.VirtualNodeSpec, "Spec")  # no coerce
    with pytest.raises(SourceError, match=r"Spec\.Listeners: must be a list"):
        to_wire({"Listeners": {"PortMapping": {}}}, shapes.VirtualNodeSpec, "Spec")
    with pytest.raises(SourceError, match=r"sets 'listeners' a second time"):
        to_wire({"Listeners": [], "listeners": []}, shapes.VirtualNodeSpec, "Spec")
