"""An endpoint change reads only the changed node's endpoints, its dependents' resources and their pointers
(never the whole mesh), and still publishes exactly the full render; without a readable last snapshot the
proxy is built in full, and a dependent that reads beyond what the index recorded is built from the whole mesh."""

from __future__ import annotations

from typing import Any

import pytest
from meshplane.model.ids import Kind, ProxyId, ResourceKey
from meshplane.model.state import Endpoint
from meshplane.pipeline.ports import ModuleTranslator
from meshplane.pipeline.runtime import Pipeline
from meshplane.pipeline.telemetry import Telemetry
from meshplane.snapshot.types import XdsType
from meshplane.store.endpoints import NodeRef
from meshplane.store.errors import NotFound
from meshplane.store.index import resource_path

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


def test_an_endpoint_change_reads_that_nodes_endpoints_and_its_dependents_only_and_publishes_the_full_render(
        aws_env: None) -> None:
    world = make_world(validators=[])
    _published_split(world)
    world.ecs([sample("ecs_task_running_fargate.json")])  # an instance of colors-blue
    calls = _calls(world)

    assert world.recompute() == {"batchItemFailures": []}

    endpoint_reads = [p["ExpressionAttributeValues"][":pk"]["S"] for op, p in calls
                      if op == "Query" and p["ExpressionAttributeValues"][":pk"]["S"].startswith("EP#")]
    assert endpoint_reads == [f"EP#{MESH}#colors-blue"]
    # no Query of the mesh's partition: its dependents' items and the counters that show their router lists no
    # route they do not name come in one batch
    assert not [p for op, p in calls if op == "Query" and p["ExpressionAttributeValues"][":pk"]["S"] == f"MESH#{MESH}"]
    assert [op for op, _ in calls if op in ("GetItem", "BatchGetItem")] == ["BatchGetItem", "BatchGetItem"]
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
    # a container other than the one that published it reads the bucket (a publisher keeps what it wrote)
    world.pipeline = Pipeline(world.settings, world.clients, world.pipeline.parts, Telemetry.from_env(world.log_stream))
    world.ecs([sample("ecs_task_running_fargate.json")])

    assert world.recompute() == {"batchItemFailures": []}

    published = world.snapshot(FRONT)
    assert published is not None
    assert published.version == ModuleTranslator().translate(world.pipeline.recomputer.load(MESH), FRONT).version
    assert any(line.get("message") == "last snapshot unreadable; building in full" for line in world.logs())


def _whole_mesh_queries(calls: list[tuple[str, dict[str, Any]]]) -> int:
    """Queries of the mesh's partition with no sort-key prefix: reads of every resource of the mesh."""
    return sum(1 for op, p in calls if op == "Query" and p["ExpressionAttributeValues"][":pk"]["S"] == f"MESH#{MESH}"
               and ":prefix" not in p["ExpressionAttributeValues"])


def _gain_an_unrecorded_backend(world: World) -> None:
    """front now also calls extra.local, but the index still holds what front was built from before."""
    world.put(Kind.VIRTUAL_NODE, MESH, "colors-extra", {"listeners": [meshes.listener(8080)]})
    world.put(Kind.VIRTUAL_SERVICE, MESH, "extra.local",
              {"provider": {"virtualNode": {"virtualNodeName": "colors-extra"}}})
    world.put(Kind.VIRTUAL_NODE, MESH, "front", {
        "listeners": [meshes.listener(9000)],
        "backends": [{"virtualService": {"virtualServiceName": "colors.local"}},
                     {"virtualService": {"virtualServiceName": "extra.local"}}],
    })
    world.stream.drain()  # those records are not delivered: only the endpoint change below is


def test_a_dependent_that_reads_beyond_its_recorded_dependencies_is_rebuilt_from_the_whole_mesh(
        aws_env: None) -> None:
    world = make_world(validators=[])
    _published_split(world)
    _gain_an_unrecorded_backend(world)
    world.ecs([sample("ecs_task_running_fargate.json")])
    calls = _calls(world)

    assert world.recompute() == {"batchItemFailures": []}

    assert _whole_mesh_queries(calls) == 1
    published = world.snapshot(FRONT)
    assert published is not None
    state = world.pipeline.recomputer.load(MESH)
    assert dict(published.of(XdsType.ENDPOINTS)) == dict(ModuleTranslator().endpoints(state, FRONT))
    assert any("colors-extra" in cluster for cluster in published.of(XdsType.ENDPOINTS))


def test_the_dependencies_read_hold_every_route_of_a_named_router_and_nothing_unnamed(world: World) -> None:
    meshes.colors(world, MESH)
    world.put(Kind.ROUTE, MESH, "late-route", meshes.http_route(("colors-red", 1)), parent="colors-router")
    named = [resource_path(ResourceKey(Kind.VIRTUAL_NODE, MESH, "front")),
             resource_path(ResourceKey(Kind.VIRTUAL_ROUTER, MESH, "colors-router")),
             resource_path(ResourceKey(Kind.ROUTE, MESH, "colors-route", "colors-router")),
             resource_path(ResourceKey(Kind.VIRTUAL_SERVICE, MESH, "gone.local")),
             f"mesh/{MESH}/policy/none"]

    part = world.store.load_dependencies(MESH, named)
    whole = world.store.load_mesh_state(MESH)

    assert part.mesh == whole.mesh
    assert dict(part.virtual_nodes) == {"front": whole.virtual_nodes["front"]}
    assert dict(part.virtual_routers) == dict(whole.virtual_routers)
    assert dict(part.routes) == dict(whole.routes)  # the router counts a route not named: its routes are listed
    assert dict(part.virtual_services) == {}
    with pytest.raises(NotFound):
        world.store.load_dependencies("no-such-mesh", named)
