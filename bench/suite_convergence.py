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


def _allow_plain_http(endpoint: str) -> None:
    """Drop the buckets' TLS-only policies in the emulator: AWS clients use HTTPS, the local endpoint is plain
    HTTP, and moto enforces `aws:SecureTransport`, so as deployed the pipeline gets 403 on every S3 call."""
    import boto3
    from botocore.exceptions import ClientError

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    for bucket in s3.list_buckets().get("Buckets", []):
        with contextlib.suppress(ClientError):
            s3.delete_bucket_policy(Bucket=bucket["Name"])


def _toggle(sd: object, events: object, service_id: str, instance: object, present: bool) -> float:
    """Register or deregister `instance` in Cloud Map, then put the CloudTrail record; returns when it was accepted."""
    from meshplane.demo.discovery import cloudtrail_record
    from meshplane.demo.plan import INGRESS_PORT

    params: dict[str, object] = {"ServiceId": service_id, "InstanceId": instance.name}  # type: ignore[attr-defined]
    if present:
        params["Attributes"] = {"AWS_INSTANCE_IPV4": instance.address,  # type: ignore[attr-defined]
                                "AWS_INSTANCE_PORT": str(INGRESS_PORT)}
        sd.register_instance(**params)  # type: ignore[attr-defined]
    else:
        sd.deregister_instance(**params)  # type: ignore[attr-defined]
    name = "RegisterInstance" if present else "DeregisterInstance"
    result = events.put_events(Entries=[cloudtrail_record(name, params, "us-east-1")])  # type: ignore[attr-defined]
    accepted = time.monotonic()
    if result.get("FailedEntryCount"):
        raise RuntimeError(f"EventBridge refused the event: {result['Entries']}")
    return accepted


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
        _allow_plain_http(built.local.aws_endpoint)
        front = built.running["front-1"].sidecar
        blue = built.running["blue-2"].instance
        needle = f"::{blue.address}:{INGRESS_PORT}::"
        _wait(front, needle, True, timeout=180)  # the initial registration has reached front
        setup_s = time.monotonic() - started
        sd, events = built.clients.servicediscovery, built.clients.events
        added, removed = [], []
        for i in range(changes):
            present = i % 2 == 1
            accepted = _toggle(sd, events, built.cloud_map.service_ids[blue.node], blue, present)
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
