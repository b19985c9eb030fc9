"""A route write reads its router and its targets together: one BatchGetItem, not one GetItem each."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from .conftest import Stack
from .specs import http_route, node_spec, router_spec


@contextmanager
def dynamodb_calls(stack: Stack) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Every DynamoDB call the API's store makes meanwhile, with its parameters, in order."""
    calls: list[tuple[str, dict[str, Any]]] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        calls.append((model.name, params))

    events = stack.store.client.meta.events
    events.register("provide-client-params.dynamodb", record, unique_id="route-reads")
    try:
        yield calls
    finally:
        events.unregister("provide-client-params.dynamodb", unique_id="route-reads")


def _sort_keys(params: dict[str, Any]) -> set[str]:
    return {key["sk"]["S"] for request in params["RequestItems"].values() for key in request["Keys"]}


@pytest.fixture
def routed(appmesh: Any, mesh: str) -> str:
    for node in ("blue", "green"):
        appmesh.create_virtual_node(meshName=mesh, virtualNodeName=node, spec=node_spec(80))
    appmesh.create_virtual_router(meshName=mesh, virtualRouterName="r", spec=router_spec(8080))
    appmesh.create_route(meshName=mesh, virtualRouterName="r", routeName="canary", spec=http_route(("blue", 1)))
    return mesh


def test_an_update_reads_the_router_and_every_target_in_one_consistent_batch(
        stack: Stack, appmesh: Any, routed: str) -> None:
    with dynamodb_calls(stack) as calls:
        appmesh.update_route(meshName=routed, virtualRouterName="r", routeName="canary",
                             spec=http_route(("blue", 90), ("green", 10)))
    batches = [params for name, params in calls if name == "BatchGetItem"]
    assert len(batches) == 1
    (request,) = batches[0]["RequestItems"].values()
    assert request["ConsistentRead"] is True
    assert {sk.rsplit("#", 1)[-1] for sk in _sort_keys(batches[0])} == {"r", "blue", "green"}
    singles = [params["Key"]["sk"]["S"] for name, params in calls if name == "GetItem"]
    assert not any(sk.endswith(("#r", "#blue", "#green")) for sk in singles), singles


def test_a_missing_target_found_by_the_batch_is_still_not_found(appmesh: Any, routed: str) -> None:
    with pytest.raises(appmesh.exceptions.NotFoundException) as info:
        appmesh.update_route(meshName=routed, virtualRouterName="r", routeName="canary",
                             spec=http_route(("blue", 90), ("nobody", 10)))
    assert "weightedTargets[1]" in info.value.response["Error"]["Message"]
    described = appmesh.describe_route(meshName=routed, virtualRouterName="r", routeName="canary")["route"]
    assert [t["virtualNode"] for t in described["spec"]["httpRoute"]["action"]["weightedTargets"]] == ["blue"]
