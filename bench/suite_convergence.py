"""Convergence with real Envoy: an event accepted by the local runtime → Envoy routing with the change.

Brings up the demo's stack (`meshplane local up`: moto, the deployed template,
the Lambda runtime, API and ADS; real Envoy sidecars over ADS), then toggles one
`blue` instance in Cloud Map the way AWS would (Register/DeregisterInstance, then
the CloudTrail record put on EventBridge).  The clock starts when `PutEvents`
returns (the event is accepted) and stops when the `front` Envoy's admin
`/clusters` shows the instance added to (or removed from) the blue cluster it
routes with, polled every 5 ms.  Both directions count as changes.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from common import Profile, Suite, median, percentile, require

TARGET_P50_MS = 200.0
TARGET_P99_MS = 500.0
TIMEOUT_S = 30.0


class _StderrView:
    """The demo's View protocol, printing progress to stderr (stdout carries the result)."""

    def title(self, text: str) -> None:
        print(f"== {text}", file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def step(self, text: str) -> Iterator[None]:
        print(f"-> {text}", file=sys.stderr, flush=True)
        yield

    def info(self, text: str) -> None:
        print(f"   {text}", file=sys.stderr, flush=True)

    def table(self, title: str, columns: object, rows: object) -> None:
        print(f"   [{title}]", file=sys.stderr, flush=True)


def _member(sidecar: object, needle: str) -> bool:
    text = sidecar.get("/clusters", timeout=2.0)  # type: ignore[attr-defined]
    return any(needle in line and "_blue_" in line for line in text.splitlines())


def _wait(sidecar: object, needle: str, present: bool, timeout: float = TIMEOUT_S) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if _member(sidecar, needle) == present:
            return time.monotonic()
        time.sleep(0.005)
    seen = [line for line in sidecar.get("/clusters").splitlines() if "::" in line and "health_flags" in line]  # type: ignore[attr-defined]
    raise TimeoutError(f"front's Envoy never {'gained' if present else 'lost'} {needle} within {timeout}s; "
                       f"it has: {seen[:8]}")


def run(profile: Profile) -> Suite:
    stack_mod = require("meshplane.demo.stack", "bring_up")
    processes = require("meshplane.demo.processes", "Supervisor")
    from meshplane.demo.plan import INGRESS_PORT

    for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ.setdefault(key, value)  # the emulator's dummy credentials, as the Makefile exports them
    suite = Suite("convergence")
    changes = profile.pick(100, 10, 2)
    workdir = Path(tempfile.mkdtemp(prefix="bench-convergence-"))
    supervisor = processes.Supervisor(workdir / "logs")
    built = None
    try:
        started = time.monotonic()
        built = stack_mod.bring_up(supervisor, workdir, "us-east-1", _StderrView())
        front = built.running["front-1"].sidecar
        blue = built.running["blue-2"].instance
        needle = f"::{blue.address}:{INGRESS_PORT}::"
        _wait(front, needle, True, timeout=180)  # the initial registration has reached front
        setup_s = time.monotonic() - started
        sd, events = built.clients.servicediscovery, built.clients.events
        added, removed = [], []
        for i in range(changes):
            present = i % 2 == 1
            if present:
                built.cloud_map.register(sd, events, blue)
            else:
                built.cloud_map.deregister(sd, events, blue)
            accepted = time.monotonic()  # PutEvents (the last call of register/deregister) has returned
            (added if present else removed).append(_wait(front, needle, present) - accepted)
        samples = added + removed
    finally:
        supervisor.stop_all()
        if built is not None:
            built.addresses.release_all()
    suite.add("event accepted → Envoy routing, p50", median(samples) * 1000, "ms", target=TARGET_P50_MS,
              note=f"{len(samples)} changes ({len(added)} added, {len(removed)} removed)")
    suite.add("event accepted → Envoy routing, p99", percentile(samples, 99) * 1000, "ms", target=TARGET_P99_MS)
    suite.add("event accepted → Envoy routing, max", max(samples) * 1000, "ms")
    suite.add("stack bring-up (not part of the latency)", setup_s, "s")
    suite.tables["per direction (ms)"] = [
        {"change": name, "n": len(xs), "p50": median(xs) * 1000, "p99": percentile(xs, 99) * 1000,
         "max": max(xs) * 1000}
        for name, xs in (("instance registered", added), ("instance deregistered", removed)) if xs
    ]
    return suite
