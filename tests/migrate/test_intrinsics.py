"""CloudFormation intrinsics resolved offline, as CloudFormation resolves them."""

from __future__ import annotations

from typing import Any

import pytest
from meshplane.migrate.errors import SourceError
from meshplane.migrate.intrinsics import Context, Resolver, parameter_values
from meshplane.migrate.sources import cfn_yaml


def resolver(**conditions: Any) -> Resolver:
    return Resolver(Context(
        parameters={"Env": "prod", "Domain": "svc.local", "Ports": ["80", "443"]},
        pseudo={"AWS::Region": "eu-west-1", "AWS::AccountId": "111122223333"},
        conditions=conditions,
        mappings={"Sizes": {"prod": {"Retries": 3}}},
        resource_ref=lambda lid, path: f"arn:{lid}",
        resource_attribute=lambda lid, attr, path: f"{lid}/{attr}",
        import_value=lambda name, path: f"imported:{name}",
    ))


@pytest.mark.parametrize(("node", "value"), [
    ({"Ref": "Env"}, "prod"),
    ({"Ref": "Node"}, "arn:Node"),
    ({"Fn::GetAtt": ["Node", "VirtualNodeName"]}, "Node/VirtualNodeName"),
    ({"Fn::Sub": "${Env}.${Domain} in ${AWS::Region} ${Node.Arn} ${!Literal}"},
     "prod.svc.local in eu-west-1 Node/Arn ${Literal}"),
    ({"Fn::Sub": ["${Name}.${Domain}", {"Name": {"Ref": "Env"}}]}, "prod.svc.local"),
    ({"Fn::Join": ["-", ["a", {"Ref": "Env"}, "b"]]}, "a-prod-b"),
    ({"Fn::Join": [",", {"Ref": "Ports"}]}, "80,443"),
    ({"Fn::Select": ["1", {"Fn::Split": [".", "a.b.c"]}]}, "b"),
    ({"Fn::FindInMap": ["Sizes", {"Ref": "Env"}, "Retries"]}, 3),
    ({"Fn::ImportValue": {"Fn::Sub": "${Env}-Namespace"}}, "imported:prod-Namespace"),
    ({"Fn::If": ["IsProd", "yes", "no"]}, "yes"),
    ({"Fn::If": ["IsDev", "yes", {"Ref": "AWS::NoValue"}]}, None),
    ({"A": {"Ref": "AWS::NoValue"}, "B": [1, {"Ref": "AWS::NoValue"}, 2]}, {"B": [1, 2]}),
])
def test_each_intrinsic_resolves(node: Any, value: Any) -> None:
    conditions = {"IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]},
                  "IsDev": {"Fn::Not": [{"Condition": "IsProd"}]}}
    assert resolver(**conditions).resolve(node, "Properties") == value


def test_conditions_combine_and_refer_to_each_other() -> None:
    r = resolver(
        IsProd={"Fn::Equals": ["prod", {"Ref": "Env"}]},
        InEurope={"Fn::Equals": [{"Ref": "AWS::Region"}, "eu-west-1"]},
        Both={"Fn::And": [{"Condition": "IsProd"}, {"Condition": "InEurope"}]},
        Either={"Fn::Or": [{"Fn::Not": [{"Condition": "Both"}]}, {"Fn::Equals": ["a", "b"]}]},
        Loop={"Fn::Not": [{"Condition": "Loop"}]},
    )
    assert r.condition("Both", "x") is True
    assert r.condition("Either", "x") is False
    with pytest.raises(SourceError, match="refers to itself"):
        r.condition("Loop", "x")


def test_what_cannot_be_resolved_offline_is_named() -> None:
    with pytest.raises(SourceError, match=r"Properties\.X: Fn::GetAZs cannot be resolved offline"):
        resolver().resolve({"X": {"Fn::GetAZs": ""}}, "Properties")
    with pytest.raises(SourceError, match="pseudo parameter AWS::StackId is not known offline"):
        resolver().resolve({"Ref": "AWS::StackId"}, "p")
    with pytest.raises(SourceError, match=r"index 5 is not in"):
        resolver().resolve({"Fn::Select": [5, ["a"]]}, "p")


def test_parameters_take_given_values_over_defaults_and_check_allowed_values() -> None:
    declared = {"A": {"Type": "String", "Default": "x"}, "N": {"Type": "Number", "Default": 5},
                "L": {"Type": "CommaDelimitedList", "Default": "a, b"},
                "C": {"Type": "String", "AllowedValues": ["on", "off"], "Default": "on"}}
    assert parameter_values(declared, {"A": "y"}) == {"A": "y", "N": "5", "L": ["a", "b"], "C": "on"}
    with pytest.raises(SourceError, match=r"Parameters\.C: 'maybe' is not one of AllowedValues"):
        parameter_values(declared, {"C": "maybe"})
    with pytest.raises(SourceError, match="--parameter Nope: the template declares no such parameter"):
        parameter_values(declared, {"Nope": "1"})
    with pytest.raises(SourceError, match=r"Parameters\.R: has no Default: pass --parameter R=VALUE"):
        parameter_values({"R": {"Type": "String"}}, {})


def test_short_form_yaml_tags_read_as_long_forms() -> None:
    (document,) = cfn_yaml.load_all("A: !Ref X\nB: !GetAtt R.Arn\nC: !Sub '${X}'\nD: !If [C, 1, 2]\n"
                                    "E: !Condition C\nF: !ImportValue\n  Fn::Sub: x\nV: 2010-09-09\n")
    assert document == {"A": {"Ref": "X"}, "B": {"Fn::GetAtt": ["R", "Arn"]}, "C": {"Fn::Sub": "${X}"},
                        "D": {"Fn::If": ["C", 1, 2]}, "E": {"Condition": "C"},
                        "F": {"Fn::ImportValue": {"Fn::Sub": "x"}}, "V": "2010-09-09"}
