"""A sweep too large for one invocation goes on at the next where the last one stopped, instead of timing out and
starting again every minute (at 10,000 nodes a sweep makes tens of thousands of calls)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from meshplane.model.ids import Kind
from meshplane.pipeline import reconcile, reconcile_walk
from meshplane.pipeline.reconcile_marks import MarkStore, Stage, WalkKind
from meshplane.pipeline.reconcile_walk import RESERVE_SECONDS

from . import meshes
from .conftest import LambdaContext, World, sample
from .ecs_tasks import Cluster, tasks_stay_running
from .reconcile_marks import quiet_since_now
from .test_cloudmap import MESH, cloud_map_mesh, count_calls, register

CART_NODES = ["cart", "cart-v2", "cart-v3", "cart-v4", "cart-v5"]


@dataclass
class Countdown(LambdaContext):
    """A context with time for `steps` of the walk's checks, then less than the walk's reserve."""

    steps: int = 10**6

    def get_remaining_time_in_millis(self) -> int:
        self.steps -= 1
        return int((RESERVE_SECONDS + (30 if self.steps >= 0 else -1)) * 1000)


def reconcile_once(world: World, steps: int = 10**6) -> dict[str, Any]:
    return world.pipeline.reconcile(sample("scheduled_event.json"), Countdown(steps=steps))


@pytest.fixture
def five_cart_nodes(world: World, monkeypatch: pytest.MonkeyPatch) -> str:
    """Five Cloud Map nodes of one service, two nodes to a chunk; returns the service id."""
    monkeypatch.setattr(reconcile_walk, "CHUNK", 2)
    monkeypatch.setattr(reconcile, "PASS_REFRESH_LIMIT", 2)
    service_id = cloud_map_mesh(world)
    for name in CART_NODES[1:]:
        world.put(Kind.VIRTUAL_NODE, MESH, name, {
            "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
            "serviceDiscovery": {"awsCloudMap": {"namespaceName": "shop.svc", "serviceName": "cart"}}})
    register(world, service_id, "i-1", "10.1.0.1")
    return service_id


def test_a_sweep_out_of_time_keeps_its_place_and_the_next_pass_finishes_it(
        world: World, five_cart_nodes: str) -> None:
    calls = count_calls(world)

    first = reconcile_once(world, steps=2)  # two chunks of two nodes

    assert first["sweep"] is True and first["walk"] == {"kind": "sweep", "stage": "cloudmap"}
    assert first["refreshed"] == [f"{MESH}/{n}" for n in sorted(CART_NODES)[:4]] and calls["DiscoverInstances"] == 4
    marks = MarkStore(world.clients.dynamodb, world.settings.table).get()
    assert marks is not None and marks.walk is not None and marks.swept_at == 0
    quiet_since_now(world)  # the nodes' creation behind the markers: only the walk re-reads them
    calls.clear()

    second = reconcile_once(world)

    assert second["sweep"] is True and second["walk"] is None
    assert second["refreshed"] == [f"{MESH}/{sorted(CART_NODES)[4]}"] and calls["DiscoverInstances"] == 1
    assert f"mesh/{MESH}/virtualNode/web" in second["published"]  # the walk's last stage rebuilt the mesh
    marks = MarkStore(world.clients.dynamodb, world.settings.table).get()
    assert marks is not None and marks.walk is None and marks.swept_at == pytest.approx(marks.passed_at, abs=300)
    quiet_since_now(world)
    calls.clear()

    assert reconcile_once(world)["sweep"] is False and "DiscoverInstances" not in calls  # swept: markers only


def test_the_sweep_begins_again_after_an_invocation_that_found_no_time_for_any_step(
        world: World, five_cart_nodes: str) -> None:
    assert reconcile_once(world, steps=0)["walk"] == {"kind": "sweep", "stage": "cloudmap"}
    quiet_since_now(world)

    assert reconcile_once(world)["refreshed"] == [f"{MESH}/{n}" for n in sorted(CART_NODES)]


def test_a_pass_that_names_more_cloud_map_nodes_than_a_chunk_starts_a_sweep(
        world: World, five_cart_nodes: str) -> None:
    reconcile_once(world)
    for name in CART_NODES:  # five nodes written again since that pass: more than a chunk of two
        world.put(Kind.VIRTUAL_NODE, MESH, name, {
            "listeners": [{"portMapping": {"port": 8081, "protocol": "http"}}],
            "serviceDiscovery": {"awsCloudMap": {"namespaceName": "shop.svc", "serviceName": "cart"}}})

    calls = count_calls(world)

    summary = reconcile_once(world, steps=1)

    assert summary["sweep"] is True and summary["walk"] == {"kind": "sweep", "stage": "cloudmap"}
    assert calls["DiscoverInstances"] == 2  # the sweep's first chunk, not the pass's five


def test_an_ecs_walk_out_of_time_settles_the_rest_of_the_nodes_at_the_next_pass(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reconcile_walk, "CHUNK", 1)
    with tasks_stay_running():
        cluster = Cluster.create(world)
        meshes.colors(world)
        world.put(Kind.VIRTUAL_NODE, "colors", "a-first", {"listeners": [meshes.listener(8080)]})  # settled first
        task = cluster.run()
        world.ecs([cluster.event(task, version=2)])
        reconcile_once(world)
        quiet_since_now(world)
        cluster.stop(task)  # the STOPPED event is lost
        first = reconcile_once(world, steps=1)  # the tasks differ: an ECS walk begins and settles `a-first` only

        marks = MarkStore(world.clients.dynamodb, world.settings.table).get()
        assert marks is not None and marks.walk is not None
        assert (marks.walk.kind, marks.walk.stage) == (WalkKind.ECS, Stage.ECS_STORED)
        assert first["walk"] == {"kind": "ecs", "stage": "ecs-stored"} and world.endpoints("colors", "colors-blue")
        quiet_since_now(world)

        second = reconcile_once(world)

    task_id = task["taskArn"].rsplit("/", 1)[-1]
    assert second["ecs"]["tombstoned"] == [f"colors/colors-blue/{task_id}"] and second["walk"] is None
    assert world.endpoints("colors", "colors-blue") == ()
