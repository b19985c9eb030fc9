"""The scheduled reconcile repairs ECS endpoints from the tasks ECS really runs (events are best-effort)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from . import meshes
from .conftest import World, sample
from .ecs_tasks import Cluster, eni_address, tasks_stay_running
from .reconcile_marks import quiet_since_now


@contextmanager
def endpoint_writes(world: World) -> Iterator[list[str]]:
    """The sort keys of every ECS endpoint item the pipeline writes inside the block."""
    written: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        sk = params.get("Item", params.get("Key", {})).get("sk", {}).get("S", "")
        if sk.startswith("I#ecs#"):
            written.append(sk)

    client = world.clients.dynamodb
    for op in ("PutItem", "DeleteItem", "UpdateItem"):
        client.meta.events.register(f"provide-client-params.dynamodb.{op}", record)
    try:
        yield written
    finally:
        for op in ("PutItem", "DeleteItem", "UpdateItem"):
            client.meta.events.unregister(f"provide-client-params.dynamodb.{op}", record)


@pytest.fixture
def cluster(world: World) -> Iterator[Cluster]:
    with tasks_stay_running():
        yield Cluster.create(world)


def test_a_task_whose_event_came_before_its_node_existed_becomes_an_endpoint_at_the_reconcile(
        world: World, cluster: Cluster) -> None:
    task = cluster.run()
    assert world.ecs([cluster.event(task, version=2)]) == {"batchItemFailures": []}  # no mesh yet: maps to nothing
    meshes.colors(world)
    assert world.endpoints("colors", "colors-blue") == ()
    world.pipeline.ecs_clusters = (cluster.arn,)

    summary = world.reconcile()

    (endpoint,) = world.endpoints("colors", "colors-blue")
    assert (endpoint.address, endpoint.instance_id, endpoint.source) == (
        eni_address(task), task["taskArn"].rsplit("/", 1)[-1], "ecs")
    assert summary["ecs"]["upserted"] == [f"colors/colors-blue/{endpoint.instance_id}"]


def test_an_endpoint_whose_task_stopped_without_an_event_is_removed_by_the_reconcile(
        world: World, cluster: Cluster) -> None:
    meshes.colors(world)
    task = cluster.run()
    world.ecs([cluster.event(task, version=2)])
    assert len(world.endpoints("colors", "colors-blue")) == 1
    cluster.stop(task)  # the STOPPED event is lost

    summary = world.reconcile()  # no MESHPLANE_ECS_CLUSTERS: the endpoint names its cluster

    assert world.endpoints("colors", "colors-blue") == ()
    assert summary["ecs"]["tombstoned"] == [f"colors/colors-blue/{task['taskArn'].rsplit('/', 1)[-1]}"]


def test_between_sweeps_a_changed_set_of_running_tasks_runs_the_ecs_pass(world: World, cluster: Cluster) -> None:
    """Nothing else changed (the nodes are behind the look-back): the tasks ListTasks lists differ from the last
    pass's, so the pass repairs the lost STOPPED event without waiting for the sweep."""
    meshes.colors(world)
    task = cluster.run()
    world.ecs([cluster.event(task, version=2)])
    assert world.reconcile()["sweep"] is True
    quiet_since_now(world)
    assert world.reconcile()["ecs"] == {"upserted": [], "tombstoned": []}  # the same tasks: no ECS pass
    cluster.stop(task)  # the STOPPED event is lost
    quiet_since_now(world)

    summary = world.reconcile()

    assert summary["sweep"] is False and world.endpoints("colors", "colors-blue") == ()
    assert summary["ecs"]["tombstoned"] == [f"colors/colors-blue/{task['taskArn'].rsplit('/', 1)[-1]}"]


def test_endpoints_of_a_cluster_ecs_does_not_know_are_left_alone(world: World) -> None:
    meshes.colors(world)
    world.ecs([sample("ecs_task_running_fargate.json")])  # cluster "colors", which this ECS never had
    world.pipeline.ecs_clusters = ("colors",)

    with endpoint_writes(world) as written:
        summary = world.reconcile()

    assert written == [] and summary["ecs"] == {"upserted": [], "tombstoned": []}
    assert len(world.endpoints("colors", "colors-blue")) == 1


def test_a_running_task_whose_endpoint_is_current_costs_the_reconcile_no_write(
        world: World, cluster: Cluster) -> None:
    meshes.colors(world)
    task = cluster.run()
    world.ecs([cluster.event(task, version=2)])
    before = world.endpoints("colors", "colors-blue")
    world.pipeline.ecs_clusters = (cluster.arn,)

    with endpoint_writes(world) as written:
        summary = world.reconcile()

    assert written == []
    assert summary["ecs"] == {"upserted": [], "tombstoned": []}
    assert world.endpoints("colors", "colors-blue") == before and len(before) == 1


def test_a_stopped_event_newer_than_the_reconciles_view_is_never_undone_by_it(
        world: World, cluster: Cluster) -> None:
    meshes.colors(world)
    task = cluster.run()
    stopped = cluster.event(task, version=3)
    stopped["detail"].update({"lastStatus": "STOPPED", "desiredStatus": "STOPPED"})
    world.ecs([stopped])  # ECS still lists the task RUNNING (its stop is in flight)
    world.pipeline.ecs_clusters = (cluster.arn,)

    world.reconcile()

    assert world.endpoints("colors", "colors-blue") == ()
