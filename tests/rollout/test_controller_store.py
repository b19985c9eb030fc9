"""The controller against moto's DynamoDB and CloudWatch: metrics read back as the collector puts them, decisions
stored under the rollout's version and applied through UpdateRoute, and a controller that dies between storing a
decision and applying it repaired by the next tick."""

from __future__ import annotations

import math
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from api.conftest import CREDENTIALS, Stack, moto_endpoint, stack
from api.specs import http_route, node_spec, router_spec
from meshplane.delivery.stats_collector import Reading, metric_data, parse
from meshplane.local import moto_cloudwatch
from meshplane.model.ids import ProxyId
from meshplane.model.rollout import controller as decide
from meshplane.model.rollout.metrics import RESPONSES, RETRIED
from meshplane.pipeline.rollout_metrics import CloudWatchReader
from meshplane.pipeline.rollouts import RolloutController
from meshplane.publication.pointer import Pointer
from meshplane.store.errors import Conflict
from meshplane.store.index import DependencyIndex
from meshplane.store.pointers import PointerStore
from meshplane.store.proxy_status import EnvoyStatus, ProxyStatusStore
from meshplane.store.rollouts import RolloutStore

from rollout.support import call, rollout_spec

__all__ = ["moto_endpoint", "stack"]
CANARY = "cds_egress_{mesh}_green_http_8080"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def cloudwatch(stack: Stack) -> Any:
    moto_cloudwatch.install()  # the moto server runs in this process
    return boto3.client("cloudwatch", endpoint_url=stack.aws_endpoint, **CREDENTIALS)


@pytest.fixture
def mesh(stack: Stack) -> str:
    appmesh = stack.appmesh()
    name = f"rc-{uuid.uuid4().hex[:8]}"
    appmesh.create_mesh(meshName=name)
    for node in ("blue", "green"):
        appmesh.create_virtual_node(meshName=name, virtualNodeName=node, spec=node_spec(8080))
    appmesh.create_virtual_router(meshName=name, virtualRouterName="router", spec=router_spec())
    appmesh.create_route(meshName=name, virtualRouterName="router", routeName="all",
                         spec=http_route(("blue", 100), ("green", 0)))
    return name


def put(cloudwatch: Any, mesh: str, at: float, ok: int, failed: int, millis: float, retried: int = 0) -> None:
    """`ok` and `failed` answers handed downstream, and `retried` 5xx attempts Envoy retried."""
    cluster = CANARY.format(mesh=mesh)
    reading = Reading({(RESPONSES, cluster, "2"): ok, (RESPONSES, cluster, "5"): failed,
                       (RETRIED, cluster, "5"): retried}, {cluster: {(millis, 0.0): ok + failed + retried}})
    cloudwatch.put_metric_data(Namespace="Meshplane/Envoy",
                               MetricData=metric_data(reading, datetime.fromtimestamp(at, tz=UTC)))


def weights(stack: Stack, mesh: str) -> dict[str, int]:
    route = stack.appmesh().describe_route(meshName=mesh, virtualRouterName="router", routeName="all")["route"]
    return {t["virtualNode"]: t["weight"] for t in route["spec"]["httpRoute"]["action"]["weightedTargets"]}


def started(stack: Stack, mesh: str, **changes: Any) -> None:
    body = {"rolloutName": "green", "spec": rollout_spec(**changes)}
    assert call(stack.api_endpoint, "PUT", f"/meshes/{mesh}/rollouts", body)[0] == 200
    assert call(stack.api_endpoint, "POST", f"/meshes/{mesh}/rollouts/green/start")[0] == 200


def test_the_reader_sums_classes_and_takes_the_p99_of_the_window(cloudwatch: Any) -> None:
    mesh, now = f"rd-{uuid.uuid4().hex[:6]}", datetime.now(UTC).timestamp()
    put(cloudwatch, mesh, now - 30, 1000, 0, 900.0)  # before the window: not counted
    put(cloudwatch, mesh, now + 1, 90, 10, 20.0)
    put(cloudwatch, mesh, now + 2, 99, 1, 40.0, retried=60)  # attempts that failed and were retried count too
    cluster = CANARY.format(mesh=mesh)
    measured = CloudWatchReader(cloudwatch).measure(cluster, ["nope"], now, now + 3)
    assert (measured.requests, measured.errors, measured.retried, measured.p99_millis) == (260, 71, 60, 40.0)
    assert measured.alarms == {"nope": "MISSING"}
    empty = CloudWatchReader(cloudwatch).measure(None, [], now, now + 3)
    assert (empty.requests, empty.p99_millis) == (0, None)


def test_healthy_steps_advance_the_route_then_a_5xx_burst_rolls_it_back(stack: Stack, cloudwatch: Any,
                                                                        mesh: str) -> None:
    clock = Clock()
    started(stack, mesh, stepIntervalSeconds=10)
    ctl = RolloutController(stack.store, CloudWatchReader(cloudwatch), clock)
    t0 = RolloutStore(stack.store).describe(mesh, "green").status.step_started_at
    assert t0 is not None
    clock.now = t0 + 0.5
    assert ctl.tick_one(mesh, "green").decision is None  # no proxy calls the route yet: the window opens
    opened = RolloutStore(stack.store).describe(mesh, "green").status.window_started_at
    assert opened is not None
    put(cloudwatch, mesh, opened + 1, 50, 0, 10.0)
    clock.now = opened + 5
    assert ctl.tick_one(mesh, "green").decision is None  # healthy so far, the window is not over
    clock.now = opened + 10
    assert ctl.tick_one(mesh, "green").decision == "ADVANCED"
    assert weights(stack, mesh) == {"blue": 50, "green": 50}
    put(cloudwatch, mesh, opened + 12, 40, 20, 10.0)
    clock.now = opened + 13
    outcome = ctl.tick_one(mesh, "green")
    assert (outcome.decision, outcome.phase) == ("ROLLED_BACK", "ROLLED_BACK")
    assert weights(stack, mesh) == {"blue": 100, "green": 0}
    data = RolloutStore(stack.store).describe(mesh, "green")
    assert "5xx rate 33.33% over 60 requests, above 5%" in (data.status.reason or "")
    assert data.status.history[-1].measured is not None and data.status.history[-1].measured.errors == 20
    assert (mesh, "green") not in RolloutStore(stack.store).active()  # released once stable was back


def test_a_decision_stored_but_never_applied_is_applied_by_the_next_tick(stack: Stack, cloudwatch: Any,
                                                                         mesh: str) -> None:
    started(stack, mesh)
    store = RolloutStore(stack.store)
    data = store.describe(mesh, "green")
    assert weights(stack, mesh) == {"blue": 90, "green": 10}
    rolled_back = decide.command(data.spec, data.status, "abort", data.status.step_started_at or 0)
    store.save(data, rolled_back)  # the controller dies here, before UpdateRoute
    with pytest.raises(Conflict):
        store.save(data, rolled_back)  # a second writer of the same version loses
    assert weights(stack, mesh) == {"blue": 90, "green": 10}
    assert (mesh, "green") in store.active()  # still listed: the final weights are not on the route
    outcome = RolloutController(stack.store, CloudWatchReader(cloudwatch)).tick_one(mesh, "green")
    assert (outcome.repaired, outcome.phase) == (True, "ABORTED")
    assert weights(stack, mesh) == {"blue": 100, "green": 0}
    assert (mesh, "green") not in store.active()


def test_a_step_without_metrics_rolls_back_instead_of_advancing(stack: Stack, cloudwatch: Any, mesh: str) -> None:
    clock = Clock()
    started(stack, mesh, stepIntervalSeconds=1)
    t0 = RolloutStore(stack.store).describe(mesh, "green").status.step_started_at
    assert t0 is not None
    ctl = RolloutController(stack.store, CloudWatchReader(cloudwatch), clock)
    clock.now = t0 + 0.5
    assert ctl.tick_one(mesh, "green").decision is None  # the window opens
    opened = RolloutStore(stack.store).describe(mesh, "green").status.window_started_at
    assert opened is not None
    clock.now = opened + 1
    outcome = ctl.tick_one(mesh, "green")
    assert outcome.decision == "ROLLED_BACK"
    assert weights(stack, mesh) == {"blue": 100, "green": 0}


def test_the_collector_puts_what_changed_and_counts_a_restarted_envoy_from_zero() -> None:
    ok, failed, retried = (RESPONSES, "c", "2"), (RESPONSES, "c", "5"), (RETRIED, "c", "5")
    first = Reading({ok: 10, failed: 1, retried: 4}, {"c": {(1.0, 0.1): 11}})
    later = Reading({ok: 15, failed: 1, retried: 9}, {"c": {(1.0, 0.1): 14, (20.0, 1.0): 2}})
    assert later.since(first) == Reading({ok: 5, retried: 5}, {"c": {(1.0, 0.1): 3, (20.0, 1.0): 2}})
    restarted = Reading({ok: 3}, {"c": {(1.0, 0.1): 3}})
    assert restarted.since(later) == Reading({ok: 3}, {"c": {(1.0, 0.1): 3}})
    data = metric_data(later.since(first), datetime.now(UTC))
    assert [(d["MetricName"], d.get("Value"), d.get("Values"), d.get("Counts")) for d in data] == [
        ("envoy.cluster.retry.upstream_rq_xx", 5.0, None, None), ("envoy.cluster.upstream_rq_xx", 5.0, None, None),
        ("envoy.cluster.upstream_rq_time", None, [1.05, 20.5], [3.0, 2.0])]


def test_the_collector_reads_the_retried_attempts_apart_as_envoy_names_them() -> None:
    """Envoy 1.40 charges `cluster.<c>.upstream_rq_5xx` with the answer it hands downstream and each attempt it
    retries to `cluster.<c>.retry.upstream_rq_5xx` (seen on a real Envoy: 100 requests behind `retry_on: 5xx`
    to an upstream failing 2 of every 5 attempts gave `upstream_rq_2xx` 100, `retry.upstream_rq_5xx` 68)."""
    stats = {"stats": [{"name": "cluster.c.upstream_rq_2xx", "value": 100},
                       {"name": "cluster.c.retry.upstream_rq_5xx", "value": 68},
                       {"name": "cluster.c.retry.upstream_rq_500", "value": 68},
                       {"name": "cluster.c.upstream_rq_total", "value": 168}]}
    assert parse(["c"], stats).responses == {(RESPONSES, "c", "2"): 100, (RETRIED, "c", "5"): 68}


def step_with_a_caller(stack: Stack, mesh: str, interval: int) -> tuple[float, ProxyId]:
    """A started rollout whose route `front` calls (as its last snapshot's index entry says): when the step began."""
    started(stack, mesh, stepIntervalSeconds=interval)
    t0 = RolloutStore(stack.store).describe(mesh, "green").status.step_started_at
    assert t0 is not None
    front = ProxyId.parse(f"mesh/{mesh}/virtualNode/front")
    route = f"mesh/{mesh}/virtualRouter/router/route/all"
    DependencyIndex(stack.store.table, stack.store.client).put(mesh, front.path, [route], [])
    return t0, front


def test_a_steps_window_opens_once_the_callers_envoys_applied_a_snapshot_published_after_it(
    stack: Stack, cloudwatch: Any, mesh: str,
) -> None:
    clock = Clock()
    t0, front = step_with_a_caller(stack, mesh, 10)
    ctl = RolloutController(stack.store, CloudWatchReader(cloudwatch), clock)

    def opened_at(now: float) -> float | None:
        clock.now = now
        assert ctl.tick_one(mesh, "green").decision is None
        return RolloutStore(stack.store).describe(mesh, "green").status.window_started_at

    assert opened_at(t0 + 1) is None  # front not republished since the step began
    PointerStore(stack.store.table, stack.store.client, clock=lambda: t0 + 0.9).advance(
        None, front.path, Pointer("v2", "snapshots/v2.snap"))
    assert opened_at(t0 + 2) is None  # republished, but no Envoy of front reports it
    statuses = ProxyStatusStore(stack.store.table, stack.store.client)
    envoy = EnvoyStatus(front, front.path, "task-1", "conn-1", "ads", seen=clock.now, applied="v1")
    statuses.put([envoy, replace(envoy, instance="task-2", connection="conn-2", applied="v2")])
    assert opened_at(t0 + 3) is None  # one of two Envoys is still on the old snapshot
    statuses.put([replace(envoy, applied="v2")])
    assert opened_at(t0 + 4) == math.ceil(t0 + 4)  # from the next whole second: the metrics' resolution


def test_a_window_the_callers_never_confirm_opens_after_one_interval_with_the_reason(
    stack: Stack, cloudwatch: Any, mesh: str,
) -> None:
    clock = Clock()
    t0, _ = step_with_a_caller(stack, mesh, 2)
    clock.now = t0 + 2
    outcome = RolloutController(stack.store, CloudWatchReader(cloudwatch), clock).tick_one(mesh, "green")
    status = RolloutStore(stack.store).describe(mesh, "green").status
    assert (outcome.decision, status.window_started_at, weights(stack, mesh)) == (
        "WINDOW_UNCONFIRMED", math.ceil(t0 + 2), {"blue": 90, "green": 10})
    assert "(front: not republished since the step began); its window opens without them" in (status.reason or "")
