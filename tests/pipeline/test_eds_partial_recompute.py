"""An endpoint change reads only the changed node's endpoints and the pointers in one batch, and still
publishes exactly the full render; without a readable last snapshot the proxy is built in full."""

from __future__ import annotations

from typing import Any

from meshplane.model.ids import Kind, ProxyId
from meshplane.model.state import Endpoint
from meshplane.pipeline.ports import ModuleTranslator
from meshplane.snapshot.types import XdsType
from meshplane.store.endpoints import NodeRef

from . import meshes
from .conftest import World, make_world, sample

MESH = "colors"
FRONT = ProxyId(MESH, Kind.VIRTUAL_NODE, "front")


def _published_split(world: World) -> None:
    """front calls colors-blue and colors-red (1:1); red has an instance, blue none yet; all published."""
    meshes.colors(world, MESH)
    world.put(Kind.ROUTE, MESH, "colors-route", meshes.http_route(("colors-blue", 1), ("colors-red", 1)),
              parent="colors-router")
    world.pipeline.endpoints.replace_cloudmap(NodeRef(MESH, "colors-red"), [
        Endpoint(instance_id="red-1", address="10.0.2.7", source="cloudmap")])
    assert world.recompute() == {"batchItemFailures": []}
    world.announcements()


def _calls(world: World) -> list[tuple[str, dict[str, Any]]]:
    """Every DynamoDB call the pipeline makes from now on, with its parameters."""
    seen: list[tuple[str, dict[str, Any]]] = []
    world.clients.dynamodb.meta.events.register(
        "provide-client-params.dynamodb.*", lambda params, model, **_: seen.append((model.name, dict(params))))
    return seen


def test_an_endpoint_change_reads_only_that_nodes_endpoints_and_publishes_the_full_render(aws_env: None) -> None:
    world = make_world(validators=[])
    _published_split(world)
    world.ecs([sample("ecs_task_running_fargate.json")])  # an instance of colors-blue
    calls = _calls(world)

    assert world.recompute() == {"batchItemFailures": []}

    endpoint_reads = [p["ExpressionAttributeValues"][":pk"]["S"] for op, p in calls
                      if op == "Query" and p["ExpressionAttributeValues"][":pk"]["S"].startswith("EP#")]
    assert endpoint_reads == [f"EP#{MESH}#colors-blue"]
    assert [op for op, _ in calls if op in ("GetItem", "BatchGetItem")] == ["BatchGetItem"]
    (announced,) = world.announcements()
    assert announced["nodeId"] == FRONT.path and announced["changedTypes"] == ["endpoints"]
    published = world.snapshot(FRONT)
    state = world.pipeline.recomputer.load(MESH)
    assert published is not None
    assert dict(published.of(XdsType.ENDPOINTS)) == dict(ModuleTranslator().endpoints(state, FRONT))
    assert published.version == ModuleTranslator().translate(state, FRONT).version


def test_without_a_readable_last_snapshot_the_proxy_is_built_in_full(aws_env: None) -> None:
    world = make_world(validators=[])
    _published_split(world)
    pointer = world.pipeline.pointers.get(FRONT.path)
    assert pointer is not None
    world.clients.s3.put_object(Bucket=world.settings.bucket, Key=pointer.key, Body=b"not a snapshot")
    world.ecs([sample("ecs_task_running_fargate.json")])

    assert world.recompute() == {"batchItemFailures": []}

    published = world.snapshot(FRONT)
    assert published is not None
    assert published.version == ModuleTranslator().translate(world.pipeline.recomputer.load(MESH), FRONT).version
    assert any(line.get("message") == "last snapshot unreadable; building in full" for line in world.logs())
