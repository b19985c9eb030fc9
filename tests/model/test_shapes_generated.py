"""The committed App Mesh shapes must be exactly what the botocore model generates."""

from __future__ import annotations

import importlib
from pathlib import Path

import botocore.loaders
import pytest
from meshplane.model import codegen, shapes
from pydantic import ValidationError


def test_committed_shapes_match_the_botocore_service_model() -> None:
    generated = codegen.Generator(codegen.load_service_model()).render()
    committed = {path.name: path.read_text() for path in codegen.OUTPUT.glob("*.py")}
    assert committed == generated, "run `python -m meshplane.model.codegen`"


def test_the_drift_check_sees_an_edited_a_missing_and_a_stale_module(tmp_path: Path) -> None:
    """`write` makes the directory exactly the generator's files: what the drift test compares against."""
    generated = codegen.Generator(codegen.load_service_model()).render()
    (tmp_path / "retired.py").write_text("class Gone: ...\n")
    (tmp_path / "route.py").write_text("# edited by hand\n")
    codegen.write(generated, tmp_path)
    assert {path.name: path.read_text() for path in tmp_path.glob("*.py")} == generated


def test_every_class_is_a_static_class_of_its_kind_module() -> None:
    """Type checkers read the class statements: `shapes.<Name>` is the class its module defines."""
    partition = codegen.Partition(codegen.load_service_model())
    for name, module in partition.module_of.items():
        cls = getattr(shapes, name)
        assert cls.__module__ == f"meshplane.model.shapes.{module}", name
        assert cls is vars(importlib.import_module(cls.__module__))[name]
    assert partition.module_of["VirtualNodeSpec"] == "virtual_node"
    assert partition.module_of["ListMeshesOutput"] == "mesh"
    assert partition.module_of["Duration"] == "common"  # routes and virtual nodes share it
    assert partition.module_of["NotFoundException"] == "errors"


def test_the_package_lists_every_class_and_refuses_unknown_names() -> None:
    names = set(codegen.Partition(codegen.load_service_model()).module_of)
    assert names <= set(dir(shapes))
    assert not hasattr(shapes, "VirtualNodeSpecification")
    with pytest.raises(AttributeError, match="VirtualNodeSpecification"):
        shapes.VirtualNodeSpecification  # noqa: B018


def test_every_structure_of_the_api_has_a_model_with_every_member() -> None:
    model = botocore.loaders.Loader().load_service_model("appmesh", "service-2")
    for name, shape in model["shapes"].items():
        if shape["type"] != "structure":
            continue
        cls = getattr(shapes, name)
        aliases = {field.alias or attr for attr, field in cls.model_fields.items()}
        assert aliases == set(shape["members"]), name


def test_weighted_targets_are_limited_to_one_to_ten() -> None:
    target = {"virtualNode": "blue", "weight": 10}
    shapes.HttpRouteAction.model_validate({"weightedTargets": [target] * 10})
    for count in (0, 11):
        with pytest.raises(ValidationError, match="weightedTargets"):
            shapes.HttpRouteAction.model_validate({"weightedTargets": [target] * count})


@pytest.mark.parametrize("weight", [-1, 101])
def test_weights_outside_zero_to_hundred_are_refused(weight: int) -> None:
    with pytest.raises(ValidationError, match="weight"):
        shapes.WeightedTarget.model_validate({"virtualNode": "blue", "weight": weight})


def test_a_union_refuses_two_members_and_none() -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        shapes.ServiceDiscovery.model_validate(
            {"dns": {"hostname": "a.local"}, "awsCloudMap": {"namespaceName": "n", "serviceName": "s"}}
        )
    with pytest.raises(ValidationError, match="exactly one"):
        shapes.ServiceDiscovery.model_validate({})


def test_unknown_fields_and_wrong_types_name_the_field() -> None:
    with pytest.raises(ValidationError, match=r"portMapping\.port"):
        shapes.Listener.model_validate({"portMapping": {"port": "8080", "protocol": "http"}})
    with pytest.raises(ValidationError, match="colour"):
        shapes.MeshSpec.model_validate({"colour": "blue"})
    with pytest.raises(ValidationError, match="protocol"):
        shapes.PortMapping.model_validate({"port": 8080, "protocol": "udp"})


def test_models_round_trip_to_camel_case_wire_json() -> None:
    json_format = {"json": [{"key": "k", "value": "v"}]}
    wire = {"logging": {"accessLog": {"file": {"path": "/dev/stdout", "format": json_format}}}}
    assert shapes.VirtualNodeSpec.model_validate(wire).wire() == wire


def _inputs_with(member: str) -> list[type[shapes.AppMeshModel]]:
    model = botocore.loaders.Loader().load_service_model("appmesh", "service-2")
    names = [op["input"]["shape"] for op in model["operations"].values()]
    return [getattr(shapes, n) for n in names if member in model["shapes"][n]["members"]]


def test_client_tokens_carry_the_limit_their_documentation_states() -> None:
    """"Up to 36 letters, numbers, hyphens, and underscores": a stated limit, in the docs rather than the shape."""
    inputs = _inputs_with("clientToken")
    assert len(inputs) == 14  # create and update of the seven kinds
    for cls in inputs:
        assert "clientToken" not in _problems(cls, "0f8fad5b-d9cb-469f-a165-70867728950e")  # boto3's uuid4
        for token in ("x" * 37, "x" * 500_000, "a b", "tok\n", "t\u00f6k"):
            assert "clientToken" in _problems(cls, token), (cls.__name__, token[:40])


def _problems(cls: type[shapes.AppMeshModel], token: str) -> set[str]:
    """The fields an input with `token` and nothing else is refused for."""
    try:
        cls.model_validate({"clientToken": token})
    except ValidationError as exc:
        return {str(error["loc"][0]) for error in exc.errors()}
    return set()


@pytest.mark.parametrize(("shape", "member", "too_big"), [
    ("Duration", "value", 2**63),  # a long without a stated maximum: 64 bit
    ("VirtualNodeHttpConnectionPool", "maxConnections", 2**31),  # an integer: 32 bit
])
def test_numbers_without_a_stated_maximum_hold_their_botocore_type_width(shape: str, member: str,
                                                                          too_big: int) -> None:
    cls = getattr(shapes, shape)
    with pytest.raises(ValidationError, match=member):
        cls.model_validate({member: too_big})
