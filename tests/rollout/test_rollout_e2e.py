"""Canary rollouts end to end through `meshplane local up`: real Envoy traffic, real decisions, real rollbacks.

One mesh, one caller (`front`, a real Envoy fed by local up's ADS) and four routes, each rolled out at
once from `blue` to a canary: `green` (healthy: promoted), `red` (answers 500: rolled back on the 5xx
rate), `slow` (answers after 250 ms: rolled back on p99) and `amber` (healthy, but its alarm is in
ALARM: rolled back on the alarm).  `meshplane stats-collector`'s Collector reads front's Envoy admin and
puts the per-cluster counts and request times to local up's CloudWatch; the controller runs as the
RolloutFunction that local up's scheduler invokes, like the other scheduled functions.  A fifth
rollout, started with them, has its controller killed mid-way (its local Lambda worker, SIGKILL): all must
still end as their traffic says.

Each rollout needs 10 canary requests in a 3 s window; the traffic threads send about 20 requests a
second per route, half to the canary at the first step, so a window fills in about a second once the
weights are on front's Envoy.  A window that closes before they get there (a loaded machine) is a
failed check "no traffic measured"; each rollout may fail one check, so the decision that ends it
rests on the canary's traffic.  The test waits for decisions, never for time.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from meshplane.bootstrap.envoy import build
from meshplane.bootstrap.options import BootstrapOptions
from meshplane.delivery.stats_collector import Collector
from meshplane.local.harness import LocalStack
from meshplane.policycli import call
from support import Lab, http_request, wait_until
from support.fixtures import lab

__all__ = ["lab"]
pytestmark = [pytest.mark.emulator, pytest.mark.envoy]

PORT = 8080
DECIDE_SECONDS = 120  # local up's 5 s schedule, the ADS push and the windows, on a loaded machine; polled
CANARIES = {"ok": "green", "errors": "red", "slow": "slow", "alarmed": "amber"}
# `slow` answers after 250 ms, above its bound; the others' bound leaves room for a loaded machine's latency
P99_MILLIS = {"slow": 150, "ok": 1000}


@dataclass
class World:
    stack: LocalStack
    mesh: str
    front: str
    cloudwatch: Any
    apps: dict[str, Any]

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
    apps = {}
    for node in ("blue", *CANARIES.values()):
        address = lab.address()
        apps[node] = lab.http_app(node, address, PORT)
        appmesh.create_virtual_node(meshName=mesh, virtualNodeName=node, spec=_node(address))
    for route, canary in (*CANARIES.items(), ("crash", "green")):
        appmesh.create_virtual_router(meshName=mesh, virtualRouterName=f"r-{route}",
                                      spec={"listeners": [{"portMapping": {"port": PORT, "protocol": "http"}}]})
        appmesh.create_route(meshName=mesh, virtualRouterName=f"r-{route}", routeName="all", spec={"httpRoute": {
            "match": {"prefix": "/"}, "action": {"weightedTargets": [
                {"virtualNode": "blue", "weight": 100}, {"virtualNode": canary, "weight": 0}]}}})
        appmesh.create_virtual_service(meshName=mesh, virtualServiceName=f"svc-{route}.local",
                                       spec={"provider": {"virtualRouter": {"virtualRouterName": f"r-{route}"}}})
    backends = [{"virtualService": {"virtualServiceName": f"svc-{r}.local"}} for r in (*CANARIES, "crash")]
    appmesh.create_virtual_node(meshName=mesh, virtualNodeName="front", spec={
        "listeners": [{"portMapping": {"port": 9000, "protocol": "http"}}], "backends": backends})
    return apps


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
    found = World(local_stack, mesh, front, cloudwatch, apps)
    wait_until(lambda: all(found.answer(r) == "blue" for r in (*CANARIES, "crash")), DECIDE_SECONDS, 0.2,
               "front's Envoy to route every service to blue")
    stop = threading.Event()
    collector = Collector(envoy.admin_url, cloudwatch, "Meshplane/Envoy")
    threads = [threading.Thread(target=collector.run, args=(0.5, stop), daemon=True)]
    threads += [threading.Thread(target=_traffic, args=(found, r, stop), daemon=True)
                for r in (*CANARIES, "slow", "crash")]  # two threads for the slow one
    for thread in threads:
        thread.start()
    yield found
    stop.set()
    for thread in threads:
        thread.join(timeout=10)


def _traffic(world: World, route: str, stop: threading.Event) -> None:
    while not stop.is_set():
        world.answer(route)
        stop.wait(0.05)


def _spec(route: str, canary: str, **changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "route": {"virtualRouterName": f"r-{route}", "routeName": "all"},
        "stable": {"virtualNode": "blue"}, "canary": {"virtualNode": canary},
        "steps": [50], "stepIntervalSeconds": 3,
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


@pytest.fixture(scope="module")
def outcome(world: World) -> Outcome:
    """Five rollouts started together; the controller's worker is killed once `crash` took its first step."""
    alarms = {route: f"{world.mesh}-{route}" for route in CANARIES}
    for route in CANARIES:
        _alarm(world.cloudwatch, alarms[route], "ALARM" if route == "alarmed" else "OK")
        spec = _spec(route, CANARIES[route], maxFailedChecks=1, successCriteria={
            "maxErrorRatePercent": 5, "maxP99Millis": P99_MILLIS.get(route, P99_MILLIS["ok"]), "minimumRequests": 10,
            "alarmNames": [alarms[route]]})
        world.api("PUT", "/rollouts", {"rolloutName": route, "spec": spec})
        world.api("POST", f"/rollouts/{route}/start")
    spec = _spec("crash", "green", steps=[20, 40, 60], stepIntervalSeconds=3, maxFailedChecks=1)
    world.api("PUT", "/rollouts", {"rolloutName": "crash", "spec": spec})
    world.api("POST", "/rollouts/crash/start")
    wait_until(lambda: len(world.status("crash")["history"]) >= 2, DECIDE_SECONDS, 0.2, "crash's first decision")
    pid = wait_until(lambda: _rollout_worker(world.stack), 30, 0.2, "the controller's worker")
    os.kill(pid, signal.SIGKILL)  # the controller dies mid-invocation, between two ticks or inside one
    final = {route: _final(world, route) for route in (*CANARIES, "crash")}
    return Outcome(final, alarms, pid)


def test_a_healthy_canary_is_promoted_and_failing_ones_roll_back_on_5xx_latency_and_alarms(
    world: World, outcome: Outcome,
) -> None:
    final, alarms = outcome.final, outcome.alarms

    ok = final["ok"]
    assert ok["phase"] == "PROMOTED", ok
    assert [h["decision"] for h in ok["history"]][::len(ok["history"]) - 1] == ["STARTED", "PROMOTED"]
    for check in ok["history"][1:-1]:  # a window that closed before the new weights reached front's Envoy
        assert check["decision"] == "FAILED_CHECK" and "no traffic measured" in check["reason"], ok
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
    expected = {"ok": "green", **dict.fromkeys(reasons, "blue")}
    wait_until(lambda: all(world.answer(r) == where for r, where in expected.items() for _ in range(20)),
               DECIDE_SECONDS, 0.2, "the decided weights on front's Envoy")


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
    decisions = [(h["decision"], h["step"]) for h in status["history"] if h["decision"] != "FAILED_CHECK"]
    assert decisions == [("STARTED", 0), ("ADVANCED", 1), ("ADVANCED", 2), ("PROMOTED", 2)], status
    assert all("no traffic measured" in h["reason"] for h in status["history"] if h["decision"] == "FAILED_CHECK")
    assert _rollout_worker(world.stack) != outcome.killed  # a new worker took over
    wait_until(lambda: all(world.answer("crash") == "green" for _ in range(20)), DECIDE_SECONDS, 0.2,
               "all traffic on green")
