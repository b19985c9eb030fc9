"""A sweep or an ECS walk taken a chunk at a time: however the invocations' time runs out, the walk goes on where
the last one stopped, takes every node, task and mesh once, in its stages' order, and finishes."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from meshplane.pipeline import reconcile_walk
from meshplane.pipeline.ecs_reconcile import TaskListings
from meshplane.pipeline.reconcile_marks import Marks, MarkStore, Stage, Walk, WalkKind, task_digest
from meshplane.pipeline.reconcile_walk import RESERVE_SECONDS, WalkSteps
from meshplane.pipeline.telemetry import Telemetry
from meshplane.store.endpoints import NodeRef


@dataclass
class FakeInfo:
    ref: NodeRef
    cloud_map: object | None


@dataclass
class FakeDirectory:
    nodes: dict[NodeRef, FakeInfo]

    def cloud_map_nodes(self) -> list[FakeInfo]:
        return [info for info in self.nodes.values() if info.cloud_map is not None]


@dataclass
class FakeNodes:
    directory: FakeDirectory


class FakeEcs:
    """Lists fixed running tasks; ListTasks is never asked twice for a cluster within one invocation."""

    def __init__(self, running: dict[str, list[str]]) -> None:
        self.running = running
        self.listed: list[str] = []
        self.exceptions = type("E", (), {"ClusterNotFoundException": KeyError})

    def get_paginator(self, name: str) -> Any:
        ecs = self

        class Pages:
            def paginate(self, cluster: str, desiredStatus: str) -> Iterable[dict[str, Any]]:
                ecs.listed.append(cluster)
                return [{"taskArns": ecs.running.get(cluster, [])}]

        return Pages()


@dataclass
class FakeEcsPass:
    """Records which nodes it settled and which tasks it applied; names cluster `c-<mesh>` for a node's
    endpoints."""

    listings: TaskListings
    configured: tuple[str, ...] = ()
    settled: list[NodeRef] = field(default_factory=list)
    applied: list[tuple[str, str]] = field(default_factory=list)

    def settle_stored(self, refs: Sequence[NodeRef]) -> set[str]:
        self.settled += refs
        return {f"c-{ref.mesh}" for ref in refs}

    def apply_running(self, cluster: str, arns: Sequence[str]) -> None:
        assert len(arns) <= reconcile_walk.DESCRIBE_LIMIT
        self.applied += [(cluster, arn) for arn in arns]


@dataclass
class World:
    nodes: FakeNodes
    meshes: list[str]
    ecs_client: FakeEcs
    log: list[tuple[str, Any]] = field(default_factory=list)

    def steps(self, last_clusters: tuple[str, ...]) -> tuple[WalkSteps, FakeEcsPass]:
        """One invocation's steps, with caches of its own."""
        ecs = FakeEcsPass(TaskListings(self.ecs_client, Telemetry.from_env(io.StringIO())))

        def refresh(infos: Iterable[FakeInfo]) -> list[str]:
            listed = list(infos)
            self.log += [("refresh", info.ref) for info in listed]
            return [f"{info.ref.mesh}/{info.ref.node}" for info in listed]

        def recompute(mesh: str) -> None:
            self.log.append(("recompute", mesh))

        return WalkSteps(lambda: self.nodes, self.meshes, lambda: ecs, refresh, recompute,  # type: ignore[arg-type]
                         last_clusters), ecs


def a_world(node_names: Sequence[tuple[str, str, bool]], tasks: int) -> World:
    nodes = {NodeRef(mesh, node): FakeInfo(NodeRef(mesh, node), object() if cloud_map else None)
             for mesh, node, cloud_map in node_names}
    meshes = sorted({ref.mesh for ref in nodes})
    running = {f"c-{mesh}": [f"arn:aws:ecs:task/c-{mesh}/t{i:04d}" for i in range(tasks)] for mesh in meshes}
    return World(FakeNodes(FakeDirectory(nodes)), meshes, FakeEcs(running))


def countdown(steps: int) -> Any:
    """Time left for `steps` steps, then below the reserve."""
    left = [steps]

    def seconds_left() -> float:
        left[0] -= 1
        return RESERVE_SECONDS + 30 if left[0] >= 0 else RESERVE_SECONDS - 1

    return seconds_left


names = st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.text("xyz", min_size=1, max_size=6), st.booleans()),
                 unique_by=lambda n: (n[0], n[1]), max_size=40)


@settings(max_examples=60, deadline=None)
@given(node_names=names, tasks=st.integers(0, 7), budgets=st.lists(st.integers(0, 4), min_size=1, max_size=6),
       chunk=st.integers(1, 5), describe=st.integers(1, 3))
def test_a_sweep_cut_anywhere_takes_everything_once_in_stage_order_and_finishes(
        node_names: list[tuple[str, str, bool]], tasks: int, budgets: list[int], chunk: int, describe: int) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reconcile_walk, "CHUNK", chunk)
        patch.setattr(reconcile_walk, "DESCRIBE_LIMIT", describe)
        _sweep_cut_anywhere(node_names, tasks, budgets, chunk)


def _sweep_cut_anywhere(node_names: list[tuple[str, str, bool]], tasks: int, budgets: list[int], chunk: int) -> None:
    world = a_world(node_names, tasks)
    walk: Walk | None = Walk.begin(WalkKind.SWEEP, 1.0)
    finished: Walk | None = None
    settled: list[NodeRef] = []
    applied: list[tuple[str, str]] = []
    invocations = 0
    while walk is not None:
        budget = budgets[invocations] if invocations < len(budgets) else 1  # at least a step, once the list ends
        steps, ecs = world.steps(last_clusters=())
        walk, finished = steps.run(walk, countdown(budget))
        settled += ecs.settled
        applied += ecs.applied
        assert len(ecs.settled) <= chunk * budget and len(world.ecs_client.listed) == len(set(world.ecs_client.listed))
        world.ecs_client.listed.clear()
        invocations += 1
        assert invocations < 1000

    everything = sorted(world.nodes.directory.nodes, key=lambda r: (r.mesh, r.node))
    cloud_map = [ref for ref in everything if world.nodes.directory.nodes[ref].cloud_map is not None]
    assert [ref for kind, ref in world.log if kind == "refresh"] == cloud_map
    assert settled == everything
    # the clusters the stored endpoints named are the running tasks' clusters, each task taken once in ARN order
    assert applied == sorted((c, arn) for c, arns in world.ecs_client.running.items() for arn in arns)
    assert [mesh for kind, mesh in world.log if kind == "recompute"] == world.meshes
    kinds = [kind for kind, _ in world.log]
    assert kinds == sorted(kinds, key=["refresh", "recompute"].index)  # Cloud Map before the meshes' rebuilds
    assert finished is not None and finished.ecs_clusters == tuple(sorted(f"c-{m}" for m in world.meshes))
    assert finished.ecs_digest == task_digest({})  # no cluster was known when its ECS stages began


def test_an_ecs_walk_compares_with_the_tasks_listed_when_it_began_and_skips_cloud_map() -> None:
    world = a_world([("a", "n1", True), ("a", "n2", False)], tasks=2)
    steps, ecs = world.steps(last_clusters=("c-a",))

    walk, finished = steps.run(Walk.begin(WalkKind.ECS, 1.0), countdown(100))

    assert walk is None and finished is not None
    assert finished.ecs_digest == task_digest(world.ecs_client.running)
    assert world.log == [] and ecs.settled == [NodeRef("a", "n1"), NodeRef("a", "n2")]
    assert ecs.applied == [("c-a", arn) for arn in world.ecs_client.running["c-a"]]


def test_no_step_is_taken_once_less_than_the_reserve_is_left() -> None:
    world = a_world([("a", "n1", True)], tasks=0)
    steps, _ = world.steps(last_clusters=())
    walk = Walk.begin(WalkKind.SWEEP, 1.0)

    assert steps.run(walk, lambda: RESERVE_SECONDS) == (walk, None)
    assert world.log == []


def test_the_walk_under_way_survives_the_mark_store_and_older_marks_read_without_one() -> None:
    from moto import mock_aws

    with mock_aws():
        import boto3
        from meshplane.store import schema

        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        schema.create_table(dynamodb, "state")
        store = MarkStore(dynamodb, "state")
        walk = Walk(WalkKind.SWEEP, 5.5, Stage.ECS_RUNNING, ("cluster/x", "arn:aws:ecs:t/1"), "d" * 64, ("c",))
        store.put(Marks(7.0, 1.0, "e", ("c",), walk))
        assert store.get() == Marks(7.0, 1.0, "e", ("c",), walk)

        store.put(Marks(8.0, 2.0))
        item = dynamodb.get_item(TableName="state", Key={"pk": {"S": "RECONCILE"}, "sk": {"S": "STATE"}})["Item"]
        assert "walk" not in item and store.get() == Marks(8.0, 2.0)
