"""Canary rollouts end to end through `meshplane local up`: real Envoy traffic, real decisions, real rollbacks.

One mesh, one caller (`front`, a real Envoy fed by local up's ADS) and five routes, each rolled out at
once from `blue` to a canary: `green` (healthy: promoted), `red` (answers 500: rolled back on the 5xx
rate), `slow` (answers after 250 ms: rolled back on p99), `amber` (healthy, but its alarm is in
ALARM: rolled back on the alarm) and `flaky` (fails 2 of every 5 attempts behind a route that retries
5xx three times: its callers see next to no errors, yet it is rolled back on its 5xx rate per attempt).
`meshplane stats-collector`'s Collector reads front's Envoy admin and puts the per-cluster counts and
request times to local up's CloudWatch; the controller runs as the RolloutFunction that local up's
scheduler invokes, like the other scheduled functions.  A sixth rollout, started with them, has its
controller killed mid-way (its local Lambda worker, SIGKILL): all must still end as their traffic says.

Each rollout needs 10 canary attempts in a 2 s window; the traffic threads send about 20 requests a
second per route, half to the canary at the first step, so a window fills in about a second once the
weights are on front's Envoy.  A step's window opens once front's Envoy reports the step's snapshot, or
one interval after the step began without that report (`WINDOW_UNCONFIRMED`: local up's ADS writes an
Envoy's status at most every 10 s); a window that closes before the weights got there (a loaded machine)
is a failed check "no traffic measured".  Each rollout may fail one check, so the decision that ends it
rests on the canary's traffic.  The test waits for decisions, never for time.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from meshplane.bootstrap.envoy import build
from meshplane.bootstrap.options import BootstrapOptions
from meshplane.delivery.stats_collector import Collector
from meshplane.local.harness import LocalStack, start_local_up, stop_local_up
from meshplane.policycli import call
from support import Lab, http_request, wait_until
from support.fixtures import lab
from support.upstreams import Behaviour, HttpUpstream

__all__ = ["lab"]
pytestmark = [pytest.mark.emulator, pytest.mark.envoy, pytest.mark.xdist_group("rollout-e2e")]  # one world, one outcome

PORT = 8080
DECIDE_SECONDS = 120  # local up's 5 s schedule, the ADS push and the windows, on a loaded machine; polled
CANARIES = {"ok": "green", "errors": "red", "slow": "slow", "alarmed": "amber", "retried": "flaky"}
ROUTES = (*CANARIES, "crash")
RETRIES = 3  # `retried`'s route retries a 5xx this many times
# `slow` answers after 250 ms, above its bound; the others' bound leaves room for a loaded machine's latency
P99_MILLIS = {"slow": 150, "ok": 1000}
STEP_SECONDS = 2
SCHEDULE_SECONDS = 5


class Flaky(HttpUpstream):
    """Fails the first 2 of every 5 attempts it serves, in arrival order: 40 % of attempts, and a request
    retried on 5xx reaches a success by its third attempt, so callers behind three retries see none of it."""

    def __init__(self, name: str, host: str, port: int) -> None:
        super().__init__(name, host, port)
        self._attempts = itertools.count()

    def _decide(self, path: str, headers: dict[str, str]) -> Behaviour:
        return Behaviour(status=500 if next(self._attempts) % 5 < 2 else 200)


@dataclass
class World:
    stack: LocalStack
    mesh: str
    front: str
    cloudwatch: Any
    apps: dict[str, Any]
    answers: dict[str, Counter[str]] = field(default_factory=dict)  # per route, what the traffic threads got

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        return call(self.stack.api_url, method, f"/meshplane/v1/meshes/{self.mesh}{path}", data, "Rollout",
                    region=self.stack.state.get("region"))

    def status(self, name: str) -> dict[str, Any]:
        status: dict[str, Any] = self.api("GET", f"/rollouts/{name}")["rollout"]["status"]
        return status

    def answer(self, route: str) -> str:
        reply = http_request((self.front, 15001), f"svc-{route}.local:{PORT}", "/", timeout=5)
        return reply.json.get("name", "?") if reply.status == 200 else f"status:{reply.status}"


def _node(address: str) -> dict[str, Any]:
    return {"listeners": [{"portMapping": {"port": PORT, "protocol": "http"}}],
            "serviceDiscovery": {"dns": {"hostname": address}}}


def _define(stack: LocalStack, lab: Lab, mesh: str) -> dict[str, Any]:
    appmesh = stack.appmesh()
    appmesh.create_mesh(meshName=mesh)
    apps: dict[str, Any] = {}
    for node in ("blue", *CANARIES.values()):
        address = lab.address()
        apps[node] = Flaky(node, address, PORT).start() if node == "flaky" else lab.http_app(node, address, PORT)
        appmesh.create_virtual_node(meshName=mesh, virtualNodeName=node, spec=_node(address))
    retries = {"maxRetries": RETRIES, "perRetryTimeout": {"unit": "s", "value": 2}, "httpRetryEvents": ["server-error"]}
    for route, canary in (*CANARIES.items(), ("crash", "green")):
        appmesh.create_virtual_router(meshName=mesh, virtualRouterName=f"r-{route}",
                                      spec={"listeners": [{"portMapping": {"port": PORT, "protocol": "http"}}]})
        appmesh.create_route(meshName=mesh, virtualRouterName=f"r-{route}", routeName="all", spec={"httpRoute": {
            "match": {"prefix": "/"}, "action": {"weightedTargets": [
                {"virtualNode": "blue", "weight": 100}, {"virtualNode": canary, "weight": 0}]},
            **({"retryPolicy": retries} if route == "retried" else {})}})
        appmesh.create_virtual_service(meshName=mesh, virtualServiceName=f"svc-{route}.local",
                                       spec={"provider": {"virtualRouter": {"virtualRouterName": f"r-{route}"}}})
    backends = [{"virtualService": {"virtualServiceName": f"svc-{r}.local"}} for r in ROUTES]
    appmesh.create_virtual_node(meshName=mesh, virtualNodeName="front", spec={
        "listeners": [{"portMapping": {"port": 9000, "protocol": "http"}}], "backends": backends})
    return apps


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """This module's own local up, its scheduled functions (the rollout controller) invoked every 5 s."""
    stack = start_local_up(tmp_path_factory.mktemp("rollout-up"), "--schedule-interval", str(SCHEDULE_SECONDS))
    try:
        yield stack
    finally:
        stop_local_up(stack)


@pytest.fixture(scope="module")
def world(local_stack: LocalStack, lab: Lab) -> Iterator[World]:
    mesh = f"ro-e2e-{uuid.uuid4().hex[:8]}"
    apps = _define(local_stack, lab, mesh)
    apps["red"].behave(status=500)
    apps["slow"].behave(delay=0.25)
    front = lab.address()
    options = BootstrapOptions(node_id=f"mesh/{mesh}/virtualNode/front", ads_address=local_stack.ads_address,
                               bind_address=front, admin_port=0, stats_flush_interval=0.5)
    envoy = lab.runner.start(json_format.MessageToDict(build(options), preserving_proto_field_name=True),
                             name="front", wait_ready=False)
    cloudwatch = local_stack.client("cloudwatch")
    found = World(local_stack, mesh, front, cloudwatch, apps, {r: Counter() for r in ROUTES})
    wait_until(lambda: all(found.answer(r) == "blue" for r in ROUTES), DECIDE_SECONDS, 0.2,
               "front's Envoy to route every service to blue")
    stop = threading.Event()
    collector = Collector(envoy.admin_url, cloudwatch, "Meshplane/Envoy")
    threads = [threading.Thread(target=collector.run, args=(0.5, stop), daemon=True)]
    threads += [threading.Thread(target=_traffic, args=(found, r, stop), daemon=True)
                for r in (*ROUTES, "slow")]  # two threads for the slow one
    for thread in threads:
        thread.start()
    yield found
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    apps["flaky"].close()


def _traffic(world: World, route: str, stop: threading.Event) -> None:
    while not stop.is_set():
        world.answers[route][world.answer(route)] += 1
        stop.wait(0.05)


def _spec(route: str, canary: str, **changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "route": {"virtualRouterName": f"r-{route}", "routeName": "all"},
        "stable": {"virtualNode": "blue"}, "canary": {"virtualNode": canary},
        "steps": [50], "stepIntervalSeconds": STEP_SECONDS,
        "successCriteria": {"maxErrorRatePercent": 5, "maxP99Millis": P99_MILLIS["ok"], "minimumRequests": 10},
        "maxFailedChecks": 0,
    }
    spec.update(changes)
    return spec


def _alarm(cloudwatch: Any, name: str, state: str) -> None:
    cloudwatch.put_metric_alarm(AlarmName=name, Namespace="Meshplane/Envoy", MetricName="SLO", Statistic="Sum",
                                Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
    cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason="set by the test")


def _final(world: World, name: str) -> dict[str, Any]:
    return wait_until(lambda: (s := world.status(name))["phase"] in ("PROMOTED", "ROLLED_BACK", "ABORTED") and s,
                      DECIDE_SECONDS, 0.25, f"rollout {name} to finish")


@dataclass(frozen=True)
class Outcome:
    final: dict[str, dict[str, Any]]  # each rollout's final status
    alarms: dict[str, str]
    killed: int  # the pid of the controller's worker killed mid-rollout
    answers: dict[str, Counter[str]]  # per route, what its callers got while the rollouts ran


@pytest.fixture(scope="module")
def outcome(world: World) -> Outcome:
    """Six rollouts started together; the controller's worker is killed once it recorded a decision on `crash`,
    while every rollout is in flight."""
    alarms = {route: f"{world.mesh}-{route}" for route in CANARIES}
    for counter in world.answers.values():
        counter.clear()
    specs = {"crash": _spec("crash", "green", steps=[50, 80], maxFailedChecks=1)}
    for route in CANARIES:
        _alarm(world.cloudwatch, alarms[route], "ALARM" if route == "alarmed" else "OK")
        specs[route] = _spec(route, CANARIES[route], maxFailedChecks=1, successCriteria={
            "maxErrorRatePercent": 5, "maxP99Millis": P99_MILLIS.get(route, P99_MILLIS["ok"]), "minimumRequests": 10,
            "alarmNames": [alarms[route]]})

    def start(route: str) -> None:
        world.api("PUT", "/rollouts", {"rolloutName": route, "spec": specs[route]})
        world.api("POST", f"/rollouts/{route}/start")

    with ThreadPoolExecutor(len(specs)) as pool:  # the API serves them at once, as it would six operators
        list(pool.map(start, specs))
    wait_until(lambda: len(world.status("crash")["history"]) >= 2, DECIDE_SECONDS, 0.2, "crash's first decision")
    pid = wait_until(lambda: _rollout_worker(world.stack), 30, 0.2, "the controller's worker")
    os.kill(pid, signal.SIGKILL)  # the controller dies mid-invocation, between two ticks or inside one
    final = {route: _final(world, route) for route in ROUTES}
    return Outcome(final, alarms, pid, {route: Counter(counter) for route, counter in world.answers.items()})


def _decisions(status: dict[str, Any]) -> list[str]:
    """The history's decisions without the waits and re-measures a loaded machine may add."""
    return [h["decision"] for h in status["history"] if h["decision"] not in ("FAILED_CHECK", "WINDOW_UNCONFIRMED")]


def _only_waits(status: dict[str, Any]) -> bool:
    """Every re-measure was for want of traffic, and every unconfirmed window says what the callers showed."""
    return all(("no traffic measured" in h["reason"]) if h["decision"] == "FAILED_CHECK" else
               ("had not confirmed" in h["reason"]) for h in status["history"]
               if h["decision"] in ("FAILED_CHECK", "WINDOW_UNCONFIRMED"))


def test_a_healthy_canary_is_promoted_and_failing_ones_roll_back_on_5xx_latency_and_alarms(
    world: World, outcome: Outcome,
) -> None:
    final, alarms = outcome.final, outcome.alarms

    ok = final["ok"]
    assert ok["phase"] == "PROMOTED", ok
    assert _decisions(ok) == ["STARTED", "PROMOTED"] and _only_waits(ok), ok
    promoted = ok["history"][-1]["measured"]
    assert promoted["requests"] >= 10 and promoted["errors"] == 0 and promoted["p99Millis"] < 1000, promoted
    reasons = {"errors": "5xx rate", "slow": "p99", "alarmed": f"alarm '{alarms['alarmed']}' is ALARM"}
    for route, why in reasons.items():
        status = final[route]
        assert (status["phase"], status["weights"]) == ("ROLLED_BACK", {"stable": 100, "canary": 0}), status
        assert why in status["reason"], status
        assert status["history"][-1]["measured"]["windowEnd"] > status["history"][0]["at"]
    assert final["errors"]["history"][-1]["measured"]["errors"] >= 1
    assert final["slow"]["history"][-1]["measured"]["p99Millis"] >= 250

    # the decided weights reach front's Envoy: then every request lands where the decision put it (20 in a
    # row at a leftover 50/50 split would happen with probability 2^-20 per route)
    expected = {"ok": "green", **dict.fromkeys(reasons, "blue"), "retried": "blue"}
    wait_until(lambda: all(world.answer(r) == where for r, where in expected.items() for _ in range(20)),
               DECIDE_SECONDS, 0.2, "the decided weights on front's Envoy")


def test_retries_do_not_hide_a_canary_failing_a_share_of_its_attempts(outcome: Outcome) -> None:
    """`flaky` fails 2 of every 5 attempts in arrival order, behind a route that retries a 5xx three times.

    Any run of n >= 10 consecutive attempts holds at least 2 * floor(n / 5) failures, so the decision's window
    (at least 10 attempts) shows at least 24 % 5xx per attempt: far above the 5 % bound, and at least 20 % is
    asserted.  One traffic thread calls the route, so a request's attempts are consecutive and the third one
    succeeds: its callers get no 5xx, and fewer than 5 % of their requests failing is asserted (had the rollout
    judged what callers got, it would have been promoted)."""
    status = outcome.final["retried"]
    assert (status["phase"], status["weights"]) == ("ROLLED_BACK", {"stable": 100, "canary": 0}), status
    assert "5xx rate" in status["reason"], status
    measured = status["history"][-1]["measured"]
    assert measured["requests"] >= 10 and measured["retried"] >= 1, measured
    assert measured["errors"] >= 0.2 * measured["requests"], measured
    callers = outcome.answers["retried"]
    failed = sum(n for answer, n in callers.items() if answer not in ("blue", "flaky"))
    assert callers["flaky"] >= 1 and failed < 0.05 * sum(callers.values()), callers


def _rollout_worker(stack: LocalStack) -> int | None:
    """The pid of local up's RolloutFunction worker of this stack (one Lambda container)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        text = b" ".join(argv)
        if b"meshplane.local.worker" in text and b'"RolloutFunction"' in text and stack.stack_name.encode() in text:
            return int(entry.name)
    return None


def test_a_controller_killed_mid_rollout_resumes_from_the_stored_state(world: World, outcome: Outcome) -> None:
    status = outcome.final["crash"]
    assert status["phase"] == "PROMOTED", status["history"]
    decisions = [(h["decision"], h["step"]) for h in status["history"]
                 if h["decision"] not in ("FAILED_CHECK", "WINDOW_UNCONFIRMED")]
    assert decisions == [("STARTED", 0), ("ADVANCED", 1), ("PROMOTED", 1)], status
    assert _only_waits(status), status
    assert _rollout_worker(world.stack) != outcome.killed  # a new worker took over
    wait_until(lambda: all(world.answer("crash") == "green" for _ in range(20)), DECIDE_SECONDS, 0.2,
               "all traffic on green")
