"""Lists page with limit/nextToken over more than 100 items; tokens are opaque and checked."""

from __future__ import annotations

import uuid
from typing import Any

import pytest


@pytest.fixture(scope="module")
def crowded_mesh(stack: Any) -> tuple[str, list[str]]:
    """One mesh with 105 virtual nodes, shared by the tests that only read it."""
    appmesh = stack.appmesh()
    mesh = f"crowded-{uuid.uuid4().hex[:8]}"
    appmesh.create_mesh(meshName=mesh)
    names = sorted(f"n{i:03d}" for i in range(105))
    for name in names:
        appmesh.create_virtual_node(meshName=mesh, virtualNodeName=name, spec={})
    return mesh, names


def test_a_default_page_holds_100_and_the_token_brings_the_rest(appmesh: Any, crowded_mesh: tuple[str, list]) -> None:
    mesh, names = crowded_mesh
    first = appmesh.list_virtual_nodes(meshName=mesh)
    assert len(first["virtualNodes"]) == 100
    second = appmesh.list_virtual_nodes(meshName=mesh, nextToken=first["nextToken"])
    assert "nextToken" not in second
    listed = [n["virtualNodeName"] for n in first["virtualNodes"] + second["virtualNodes"]]
    assert listed == names


def test_the_boto3_paginator_walks_every_page_with_a_small_limit(
    appmesh: Any, crowded_mesh: tuple[str, list]
) -> None:
    mesh, names = crowded_mesh
    pages = list(appmesh.get_paginator("list_virtual_nodes").paginate(meshName=mesh, PaginationConfig={"PageSize": 7}))
    assert len(pages) == 15
    assert [n["virtualNodeName"] for p in pages for n in p["virtualNodes"]] == names


def test_a_token_from_another_listing_is_refused(appmesh: Any, crowded_mesh: tuple[str, list]) -> None:
    mesh, _ = crowded_mesh
    token = appmesh.list_virtual_nodes(meshName=mesh, limit=1)["nextToken"]
    with pytest.raises(appmesh.exceptions.BadRequestException, match="nextToken"):
        appmesh.list_virtual_services(meshName=mesh, nextToken=token)
    with pytest.raises(appmesh.exceptions.BadRequestException, match="nextToken"):
        appmesh.list_virtual_nodes(meshName=mesh, nextToken=token[:-3] + "!!!")


def test_meshes_and_tags_paginate_too(appmesh: Any, mesh: str) -> None:
    arn = appmesh.describe_mesh(meshName=mesh)["mesh"]["metadata"]["arn"]
    appmesh.tag_resource(resourceArn=arn, tags=[{"key": f"k{i:02d}", "value": str(i)} for i in range(12)])
    pages = list(appmesh.get_paginator("list_tags_for_resource").paginate(
        resourceArn=arn, PaginationConfig={"PageSize": 5}))
    assert [len(p["tags"]) for p in pages] == [5, 5, 2]
    meshes = [m["meshName"] for p in appmesh.get_paginator("list_meshes").paginate(PaginationConfig={"PageSize": 2})
              for m in p["meshes"]]
    assert mesh in meshes
    assert meshes == sorted(meshes)
