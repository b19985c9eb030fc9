"""Rollback time: a canary's failure injected → traffic back on the stable target, with real Envoy traffic.

Brings up the demo's stack (`meshplane local up` with its scheduler running the rollout controller,
real Envoy sidecars over ADS, traffic through gateway → front → color), runs `meshplane
stats-collector`'s Collector on front's Envoy (every 0.5 s, into local up's CloudWatch), and repeats
the demo's broken rollout (`meshplane.demo.rollouts.roll`): the `color` route from blue to green in
two steps (20%, 50%; 2 s each; at most 5% 5xx over at least 10 requests; no failed check allowed),
both green apps made to answer 500 to every request when the second step starts.  The clock starts
when both accepted the fault and stops at the completion of the last request green served or that
failed, once the traffic has shown only blue for 2 s.  Split on the wall clock: detection (to the
ROLLED_BACK decision the controller recorded) and propagation (the decision to that last request).
The target (issue 17): the p50 within one step interval plus the propagation.  Only rollbacks decided
after the failure count; a rollout rolled back before it (its first step short of traffic, say) is
counted apart, against a target of none.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from common import Profile, StderrView, Suite, median, percentile, require


def _measure(built: Any, repeats: int) -> list[Any]:
    from meshplane.demo import rollouts
    from meshplane.demo.runner import _probe
    from meshplane.demo.stack import wait_for_traffic
    from meshplane.demo.traffic import TrafficGenerator

    host, port = built.gateway_address
    wait_for_traffic(built, lambda: _probe((host, port)), timeout=180)
    stop = threading.Event()
    collector = rollouts.collect(built, stop)
    traffic = TrafficGenerator(host, port, workers=2, rate_per_worker=25.0)
    traffic.start()
    results = []
    try:
        for i in range(repeats):
            result = rollouts.roll(built, traffic, f"bench-{i}", "blue", "green", fault_share=1.0)
            print(f"   {result.name}: {result.phase} after {result.rollback_seconds}s: {result.reason}",
                  file=sys.stderr, flush=True)
            results.append(result)
            rollouts.api(built, "DELETE", f"/rollouts/{result.name}")
    finally:
        traffic.stop()
        stop.set()
        collector.join(timeout=5)
    return results


def run(profile: Profile) -> Suite:
    stack_mod = require("meshplane.demo.stack", "bring_up")
    processes = require("meshplane.localnet.processes", "Supervisor")
    rollouts = require("meshplane.demo.rollouts", "roll", "STEP_SECONDS")
    for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ.setdefault(key, value)  # the emulator's dummy credentials, as the Makefile exports them
    suite = Suite("rollout")
    repeats = profile.pick(10, 3, 1)
    workdir = Path(tempfile.mkdtemp(prefix="bench-rollout-"))
    supervisor = processes.Supervisor(workdir / "logs")
    built = None
    try:
        built = stack_mod.bring_up(supervisor, workdir, "us-east-1", StderrView())
        results = _measure(built, repeats)
    finally:
        supervisor.stop_all()
        if built is not None:
            built.addresses.release_all()
    counted = [r for r in results if r.phase == "ROLLED_BACK" and r.rollback_seconds is not None
               and r.detect_seconds is not None and r.detect_seconds > 0]
    early = [r for r in results if r.phase == "ROLLED_BACK" and r not in counted]
    if not counted:
        return Suite("rollout", "error", f"no repeat rolled back: {[(r.phase, r.reason) for r in results]}")
    rollback = [r.rollback_seconds * 1000 for r in counted]
    detect = [(r.detect_seconds or 0.0) * 1000 for r in counted]
    propagation = [b - d for b, d in zip(rollback, detect, strict=True)]
    step_ms = rollouts.STEP_SECONDS * 1000
    suite.add("failure injected → traffic back on stable, p50", median(rollback), "ms",
              target=step_ms + median(propagation),
              note=f"{len(counted)} of {len(results)} rollouts rolled back after the failure; target: one step "
              f"interval ({rollouts.STEP_SECONDS} s) plus the measured p50 propagation")
    suite.add("failure injected → traffic back on stable, max", max(rollback), "ms")
    suite.add("failure injected → ROLLED_BACK decision, p50", median(detect), "ms")
    suite.add("decision → last request on the canary, p50", median(propagation), "ms")
    suite.add("rollouts not rolled back", float(sum(r.phase != "ROLLED_BACK" for r in results)), "count", target=0.0)
    suite.add("rollouts rolled back before the failure", float(len(early)), "count", target=0.0,
              note="; ".join(sorted({r.reason for r in early})))
    suite.tables["rollouts (ms)"] = [
        {"phase": r.phase, "rollback": (r.rollback_seconds or 0) * 1000, "detect": (r.detect_seconds or 0) * 1000,
         "5xx at decision": f"{r.decided_error_rate:.1f}% of {r.decided_requests}"
         if r.decided_error_rate is not None else "-"} for r in results]
    suite.tables["rollback percentiles (ms)"] = [{"p50": median(rollback), "p90": percentile(rollback, 90),
                                                  "max": max(rollback)}]
    return suite
