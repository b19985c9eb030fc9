"""Canary rollouts under the demo's steady traffic: one healthy and promoted, one broken and rolled back.

`meshplane stats-collector`'s Collector reads front's Envoy (the caller of `color`) into local up's
CloudWatch; local up's scheduler runs the rollout controller.  A broken canary is made so by
`POST /fault?share=` on its apps once the rollout's second step has started (the controller is
then watching), and the rollback is timed from that moment to the completion of the last request
the canary served or that failed, once the traffic has shown only the stable target for a while.
The bench (`bench/suite_rollout.py`) repeats the broken one.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from meshplane.demo.plan import APP_PORT
from meshplane.demo.report import RolloutResult
from meshplane.demo.stack import Stack
from meshplane.demo.traffic import Sample, TrafficGenerator

STEP_SECONDS = 2
BAD_SHARE = 0.6
"""The demo's broken canary fails this share of its answers.  front's route retries a 5xx up to 3 times, so its
callers see 0.6 ** 4 = 13% of requests fail; the rollout judges the canary per attempt, which shows the 60%."""
QUIET_SECONDS = 2.0
TIMEOUT_SECONDS = 90.0
T = TypeVar("T")


def wait(condition: Callable[[], T | None], what: str, timeout: float = TIMEOUT_SECONDS) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")


def fault(stack: Stack, node: str, share: float, instance: str | None = None) -> None:
    """Make every app of `node` (or only `instance`) answer 500 to `share` of its requests (0 heals it)."""
    for running in stack.running.values():
        chosen = running.instance.node == node and instance in (None, running.instance.name)
        if chosen and running.app is not None and running.app.running:
            url = f"http://{running.instance.address}:{APP_PORT}/fault?share={share}"
            with urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=5) as answer:
                answer.read()


def api(stack: Stack, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    from meshplane.policycli import call

    data = json.dumps(body).encode() if body is not None else None
    return call(stack.local.api_url, method, f"/meshplane/v1/meshes/{stack.plan.mesh}{path}", data, "Rollout")


def status(stack: Stack, name: str) -> dict[str, Any]:
    found: dict[str, Any] = api(stack, "GET", f"/rollouts/{name}")["rollout"]["status"]
    return found


def collect(stack: Stack, stop: threading.Event, period: float = 0.5) -> threading.Thread:
    """front's Envoy stats into local up's CloudWatch every `period` seconds until `stop`."""
    import boto3

    from meshplane.delivery.stats_collector import Collector
    from meshplane.model.rollout.metrics import DEFAULT_NAMESPACE

    cloudwatch = boto3.client("cloudwatch", endpoint_url=stack.local.endpoint_url,
                              region_name=stack.clients.appmesh.meta.region_name)
    collector = Collector(stack.running["front-1"].sidecar.admin_url, cloudwatch, DEFAULT_NAMESPACE)
    thread = threading.Thread(target=collector.run, args=(period, stop), name="stats-collector", daemon=True)
    thread.start()
    return thread


@dataclass(frozen=True)
class Pace:
    """A rollout's steps, step interval and failed checks allowed; the default is the bench's."""

    steps: tuple[int, ...] = (20, 50)
    step_seconds: int = STEP_SECONDS
    failed_checks: int = 0


SHOWN = Pace((50, 80), 3, 1)
"""The demo's: half the traffic from the first step and one failed check allowed, so a window that closes
before a loaded machine's Envoys have the new weights is measured again rather than rolled back."""


def spec(stack: Stack, stable: str, canary: str, pace: Pace = Pace()) -> dict[str, Any]:
    return {"route": {"virtualRouterName": stack.plan.router, "routeName": stack.plan.route},
            "stable": {"virtualNode": stable}, "canary": {"virtualNode": canary},
            "steps": list(pace.steps), "stepIntervalSeconds": pace.step_seconds,
            "successCriteria": {"maxErrorRatePercent": 5, "minimumRequests": 10}, "maxFailedChecks": pace.failed_checks}


def roll(stack: Stack, traffic: TrafficGenerator, name: str, stable: str, canary: str,
         fault_share: float = 0.0, pace: Pace = Pace()) -> RolloutResult:
    """Run one rollout to its end; with `fault_share`, the canary breaks when its second step starts."""
    api(stack, "PUT", "/rollouts", {"rolloutName": name, "spec": spec(stack, stable, canary, pace)})
    api(stack, "POST", f"/rollouts/{name}/start")
    injected = injected_wall = None
    try:
        if fault_share:
            wait(lambda: (s := status(stack, name))["step"] >= 1 or s["phase"] != "PROGRESSING", "the second step")
            fault(stack, canary, fault_share)
            injected, injected_wall = time.monotonic(), time.time()
        final = wait(lambda: (s := status(stack, name))["phase"] != "PROGRESSING" and s, "the controller's decision")
        landing = stable if final["phase"] == "ROLLED_BACK" else canary
        last_off = wait(lambda: _settled(traffic, injected or time.monotonic() - QUIET_SECONDS, landing),
                        f"traffic on {landing} alone")
    finally:
        if fault_share:
            fault(stack, canary, 0.0)
    decision = final["history"][-1]
    measured = decision.get("measured") or {}
    requests = int(measured.get("requests", 0))
    return RolloutResult(
        name=name, stable=stable, canary=canary, phase=final["phase"], reason=final["reason"],
        fault_share=fault_share, decided_requests=requests,
        decided_error_rate=100.0 * measured["errors"] / requests if requests else None,
        detect_seconds=float(decision["at"]) - injected_wall if injected_wall is not None else None,
        rollback_seconds=last_off - injected if injected is not None else None,
        history=[f"{h['decision']} step {h['step']}: {h['reason']}" for h in final["history"]],
    )


def _settled(traffic: TrafficGenerator, since: float, landing: str) -> float | None:
    """When the last request not answered by `landing` (or failed) completed, once `QUIET_SECONDS` passed."""
    off = [s.at for s in traffic.samples(since) if _off(s, landing)]
    last = max(off, default=since)
    return last if time.monotonic() - last >= QUIET_SECONDS else None


def _off(sample: Sample, landing: str) -> bool:
    return sample.status != 200 or sample.color != landing
