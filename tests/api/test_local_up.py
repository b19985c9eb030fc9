"""The App Mesh API served by a running `meshplane local up` (the deployed template's API function)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from .specs import node_spec
from .test_operations import test_all_38_operations_work_through_boto3 as exercise_all_operations

pytestmark = pytest.mark.emulator


def test_boto3_manages_a_mesh_through_meshplane_local_up(local_stack: Any) -> None:
    appmesh = local_stack.appmesh()
    mesh = f"local-up-{uuid.uuid4().hex[:8]}"
    assert appmesh.create_mesh(meshName=mesh)["mesh"]["metadata"]["version"] == 1
    appmesh.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec(8080))
    updated = appmesh.update_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec(8081))
    assert updated["virtualNode"]["metadata"]["version"] == 2
    assert [n["virtualNodeName"] for n in appmesh.list_virtual_nodes(meshName=mesh)["virtualNodes"]] == ["n"]
    with pytest.raises(appmesh.exceptions.ResourceInUseException):
        appmesh.delete_mesh(meshName=mesh)
    appmesh.delete_virtual_node(meshName=mesh, virtualNodeName="n")
    assert appmesh.delete_mesh(meshName=mesh)["mesh"]["status"] == {"status": "DELETED"}


def test_all_38_operations_work_through_meshplane_local_up(local_stack: Any, unique: Callable[[str], str]) -> None:
    """The same walk over every operation as test_operations, through `meshplane local up`."""
    exercise_all_operations(local_stack, unique)
