"""Convergence with real Envoy: an event accepted by the local runtime → Envoy routing with the change.

Brings up the demo's stack (`meshplane local up`: moto, the deployed template,
the Lambda runtime, API and ADS; real Envoy sidecars over ADS), then toggles one
`blue` instance in Cloud Map the way AWS would: Register/DeregisterInstance, whose
CloudTrail event the emulator puts on the default bus from inside the call
(`meshplane.local.moto_cloudtrail`), once, as CloudTrail does.  The clock starts when
that call returns (its event is accepted) and stops when the `front` Envoy's admin
`/clusters` shows the instance added to (or removed from) the blue cluster it
routes with.  Both directions count as changes.  No record is put beside the emulator's:
a second event per change would run the Cloud Map handler twice, which AWS does not.

What is polled every 5 ms is cheap: the blue cluster's `membership_total` stat (a filtered
`/stats`, about a millisecond), which Envoy's main thread sets in the same host-set update
that `/clusters` shows; once it moves, `/clusters` confirms the instance itself (falling
back to polling `/clusters` should it not).  `/clusters` itself takes Envoy's main thread,
the one that applies EDS, about 10 ms here: polled every 5 ms, it kept that thread and a
core busy with the measurement.

Route changes: the demo's canary route is set to 60/40 and back to 40/60 by `update_route`
(the API a user calls), and the clock runs from the call until front's Envoy holds the new
weights in its route config (admin `/config_dump?resource=dynamic_route_configs`, read once
the route configs' `config_reload` stats move, those polled every 5 ms): from then on every
request it routes is split by them.  The call's own time is included.

The stack runs its schedules (the reconcile, the rollout ticks) at the template's rate, once a
minute, not at the demo's ten seconds (`SCHEDULE_SECONDS`): a quiet reconcile pass takes a second
or two of this machine's two cores and of the emulator, and every ten seconds it overlapped one
change in ten; in AWS it runs once a minute in a container of its own.

Per-hop breakdown: every change is placed on one wall clock from the runtime's invocation
trace (`invocations.jsonl`: poller hand-over, handler start/finish measured in the worker,
return, the records' SQS SentTimestamp / stream ApproximateCreationDateTime), the functions'
Powertools log lines ("snapshot published" for `front`, logged after the S3 put and the
ConfigPublished PutEvents) and the moment front's /clusters showed the change (Envoy records
no time of an EDS update: `last_updated` of endpoint configs is not implemented).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import Profile, StderrView, Suite, median, percentile, require
from targets import CONVERGENCE_P50_MS, CONVERGENCE_P99_MS, ROUTE_CHANGE_P50_MS, ROUTE_CHANGE_P99_MS

TIMEOUT_S = 30.0
SCHEDULE_SECONDS = 60.0  # the template's ReconcileSchedule and rollout tick: rate(1 minute)


def _clusters(sidecar: object) -> str:
    """front's admin /clusters (the demo's sidecar exposes Envoy's admin API as `admin_get`)."""
    _, text = sidecar.admin_get("/clusters", timeout=2.0)  # type: ignore[attr-defined]
    return str(text)


def _member(sidecar: object, needle: str) -> bool:
    text = _clusters(sidecar)
    return any(needle in line and "_blue_" in line for line in text.splitlines())


def _wait(sidecar: object, needle: str, present: bool, timeout: float = TIMEOUT_S) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if _member(sidecar, needle) == present:
            return time.monotonic()
        time.sleep(0.005)
    seen = [line for line in _clusters(sidecar).splitlines() if "::" in line and "health_flags" in line]
    raise TimeoutError(f"front's Envoy never {'gained' if present else 'lost'} {needle} within {timeout}s; "
                       f"it has: {seen[:8]}")


def _stat_sum(sidecar: object, pattern: str) -> int:
    """The sum of the stats whose names match the regex `pattern` (admin `/stats?filter=`)."""
    _, text = sidecar.admin_get(f"/stats?filter={urllib.parse.quote(pattern, safe='')}",  # type: ignore[attr-defined]
                                timeout=2.0)
    return sum(int(line.rsplit(":", 1)[1]) for line in str(text).splitlines() if ":" in line)


def _blue_cluster(sidecar: object) -> str:
    return next(line.split("::", 1)[0] for line in _clusters(sidecar).splitlines() if "_blue_" in line)


def _membership(cluster: str) -> str:
    return rf"^cluster\.{re.escape(cluster)}\.membership_total$"


ROUTE_RELOADS = r"\.rds\..*\.config_reload$"


def _until_moved(sidecar: object, pattern: str, before: int, holds: Callable[[], bool],
                 timeout: float = TIMEOUT_S) -> float | None:
    """When the stats matching `pattern` moved from `before` and `holds()` then (monotonic clock), polled every
    5 ms; None when they moved and it did not hold, or never moved within `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if _stat_sum(sidecar, pattern) != before:
            at = time.monotonic()
            return at if holds() else None
        time.sleep(0.005)
    return None


def _wait_toggle(sidecar: object, cluster: str, before: int, needle: str, present: bool) -> float:
    """When front's Envoy shows `needle` in (or out of) `cluster`, whose membership was `before` ahead of the change."""
    seen = _until_moved(sidecar, _membership(cluster), before, lambda: _member(sidecar, needle) == present)
    return seen if seen is not None else _wait(sidecar, needle, present)


@dataclass(frozen=True)
class Change:
    """One toggle on the wall clock (epoch seconds)."""

    put: float  # Register/DeregisterInstance called
    accepted: float  # it returned: its CloudTrail event is on the bus
    seen: float  # front's Envoy routes with it: seen in its /clusters (Envoy keeps no time of an EDS update)


def _log_times(path: Path, message: str, node_suffix: str = "") -> list[float]:
    times = []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("message") == message and str(entry.get("nodeId", "")).endswith(node_suffix):
            times.append(dt.datetime.strptime(entry["timestamp"], "%Y-%m-%d %H:%M:%S,%f%z").timestamp())
    return times


HOPS = (
    ("Register/DeregisterInstance call (Cloud Map, CloudTrail event: rule match + SQS send)", "put", "accepted"),
    ("accepted → SQS poller hands the batch over", "accepted", "cm_called"),
    ("→ CloudMapEvents handler starts (worker pipe)", "cm_called", "cm_started"),
    ("CloudMapEvents handler (Cloud Map read + DynamoDB write)", "cm_started", "cm_finished"),
    ("handler finished → reply back in the runtime", "cm_finished", "cm_returned"),
    ("DynamoDB write (stream record) → Recompute handed the batch", "ddb_write", "rc_called"),
    ("of which: CloudMapEvents returned → Recompute handed the batch (stream poll)", "cm_returned", "rc_called"),
    ("→ Recompute handler starts (worker pipe)", "rc_called", "rc_started"),
    ("Recompute: start → front published (S3 put + ConfigPublished)", "rc_started", "published"),
    ("published → front's Envoy routes with it (SQS → ADS → S3 read → push → Envoy; 5 ms poll)",
     "published", "seen"),
)


def _hops(change: Change, trace: list[dict[str, Any]], published: list[float]) -> dict[str, float]:
    """The change's timestamp at every hop that could be placed."""
    times = {"put": change.put, "accepted": change.accepted, "seen": change.seen}
    cm = next((t for t in trace if t["function"] == "CloudMapEventsFunction" and t["called"] >= change.put
               and t.get("started")), None)
    if cm is None:
        return times
    times.update(cm_called=cm["called"], cm_started=cm["started"], cm_finished=cm["finished"],
                 cm_returned=cm["returned"])
    pub = next((p for p in published if p >= cm["started"]), None)
    if pub is None:
        return times
    times["published"] = pub
    rc = next((t for t in trace if t["function"] == "RecomputeFunction" and t.get("started")
               and t["started"] <= pub <= t["finished"] + 0.002), None)
    if rc is not None:
        times.update(rc_called=rc["called"], rc_started=rc["started"])
        if rc["sources"]:
            times["ddb_write"] = max(rc["sources"])
    return times


def _rows(chains: list[dict[str, float]], hops: tuple[tuple[str, str, str], ...]) -> list[dict[str, Any]]:
    """p50 / p90 / max of every hop over the chains where both of its ends were placed."""
    rows = []
    for name, start, end in hops:
        xs = sorted((h[end] - h[start]) * 1000 for h in chains if start in h and end in h)
        if xs:
            rows.append({"hop": name, "n": len(xs), "p50": median(xs), "p90": percentile(xs, 90), "max": xs[-1]})
    return rows


def _timelines(state_dir: Path) -> tuple[list[dict[str, Any]], list[float]]:
    """The runtime's invocation trace and the times front's snapshots were published."""
    from meshplane.local.trace import TRACE_FILE, read

    published = sorted(_log_times(state_dir / "RecomputeFunction.log", "snapshot published", "/front"))
    return read(state_dir / TRACE_FILE), published


def breakdown(changes: list[Change], state_dir: Path) -> list[dict[str, Any]]:
    """p50 / p90 / max of every hop over the changes whose chain was found whole."""
    trace, published = _timelines(state_dir)
    return _rows([_hops(c, trace, published) for c in changes], HOPS)


ROUTE_WEIGHTS = ((60, 40), (40, 60))  # both targets keep a share, so the route stays a weighted one

ROUTE_HOPS = (
    ("UpdateRoute call (API: validation + DynamoDB write)", "called", "returned"),
    ("API returned → Recompute handed the batch (stream poll)", "returned", "rc_called"),
    ("→ Recompute handler starts (worker pipe)", "rc_called", "rc_started"),
    ("Recompute: start → front published (load, plan, translate, validate, S3 put + ConfigPublished)",
     "rc_started", "published"),
    ("Recompute: start → finish", "rc_started", "rc_finished"),
    ("published → front's Envoy holds the weights (SQS → ADS → S3 read → push → Envoy; 5 ms poll)",
     "published", "seen"),
)


@dataclass(frozen=True)
class RouteChange:
    """One weight change on the wall clock (epoch seconds)."""

    called: float  # update_route called
    returned: float  # update_route returned
    seen: float  # front's Envoy holds the new weights


def _route_hops(change: RouteChange, trace: list[dict[str, Any]], published: list[float]) -> dict[str, float]:
    times = {"called": change.called, "returned": change.returned, "seen": change.seen}
    rc = next((t for t in trace if t["function"] == "RecomputeFunction" and t.get("started")
               and t["called"] >= change.called), None)
    if rc is None:
        return times
    times.update(rc_called=rc["called"], rc_started=rc["started"], rc_finished=rc["finished"])
    pub = next((p for p in published if p >= rc["started"]), None)
    if pub is not None and pub <= change.seen:
        times["published"] = pub
    return times


def _holds(sidecar: object, blue: int, green: int) -> bool:
    from meshplane.demo import observe

    dump = sidecar.config_dump("dynamic_route_configs")  # type: ignore[attr-defined]
    return observe.weights_match(observe.route_weights(dump), blue, green)


def route_changes(built: Any, count: int) -> list[RouteChange]:
    """`count` weight changes by `update_route`, each waited for in front's Envoy (5 ms poll)."""
    from meshplane.demo import mesh

    front = built.running["front-1"].sidecar
    out = []
    for i in range(count):
        blue, green = ROUTE_WEIGHTS[i % 2]
        reloads = _stat_sum(front, ROUTE_RELOADS)
        called, started = time.time(), time.monotonic()
        mesh.set_weights(built.clients.appmesh, built.plan, blue, green)
        returned = called + time.monotonic() - started
        seen = _until_moved(front, ROUTE_RELOADS, reloads, lambda: _holds(front, blue, green))  # noqa: B023
        while seen is None:  # moved for something else first: the dump itself, until it holds them
            if _holds(front, blue, green):
                seen = time.monotonic()
            elif time.monotonic() - started > TIMEOUT_S:
                raise TimeoutError(f"front's Envoy never held weights {blue}/{green} within {TIMEOUT_S}s")
            else:
                time.sleep(0.005)
        out.append(RouteChange(called, returned, called + seen - started))
    return out


def _route_metrics(suite: Suite, changes: list[RouteChange], state_dir: Path) -> None:
    samples = [c.seen - c.called for c in changes]
    suite.add("update_route → Envoy routing with it, p50", median(samples) * 1000, "ms",
              target=ROUTE_CHANGE_P50_MS, note=f"{len(samples)} weight changes, 60/40 ↔ 40/60")
    suite.add("update_route → Envoy routing with it, p99", percentile(samples, 99) * 1000, "ms",
              target=ROUTE_CHANGE_P99_MS)
    suite.add("update_route → Envoy routing with it, max", max(samples) * 1000, "ms")
    trace, published = _timelines(state_dir)
    suite.tables["route change per hop, wall clock (ms)"] = _rows(
        [_route_hops(c, trace, published) for c in changes], ROUTE_HOPS)


def _toggle(sd: object, service_id: str, instance: object, present: bool) -> tuple[float, float]:
    """Register or deregister `instance` in Cloud Map; the emulator puts the call's CloudTrail event on the bus.

    Returns (wall clock before the call, monotonic clock when it returned: the event accepted)."""
    from meshplane.demo.plan import INGRESS_PORT

    params: dict[str, object] = {"ServiceId": service_id, "InstanceId": instance.name}  # type: ignore[attr-defined]
    put = time.time()
    if present:
        params["Attributes"] = {"AWS_INSTANCE_IPV4": instance.address,  # type: ignore[attr-defined]
                                "AWS_INSTANCE_PORT": str(INGRESS_PORT)}
        sd.register_instance(**params)  # type: ignore[attr-defined]
    else:
        sd.deregister_instance(**params)  # type: ignore[attr-defined]
    return put, time.monotonic()


COLORS = ("blue", "green")  # the nodes behind front's router: every instance of theirs is registered in setup


def _all_routed(sidecar: object, needles: list[str], timeout: float = 180.0) -> None:
    """Wait until front's /clusters holds every one of `needles` (each color instance's address and port)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = _clusters(sidecar)
        if all(needle in text for needle in needles):
            return
        time.sleep(0.05)
    raise TimeoutError(f"front's Envoy never routed to all of {needles} within {timeout}s")


QUIET_S = 1.5  # no invocation returned for this long: what setup sent has been handled
SETTLE_TIMEOUT_S = 30.0


def _settle(state_dir: Path) -> None:
    """Wait until the runtime's invocation trace has been quiet for QUIET_S (at most SETTLE_TIMEOUT_S).

    Once every color instance reaches front (`_all_routed`; blue-2 alone was waited for before), what setup
    sent may still be settling: the first change measured ran into the setup's last registration (an ECS task
    event and a Cloud Map pair) once a run, its worst sample."""
    from meshplane.local.trace import TRACE_FILE, read

    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while time.monotonic() < deadline:
        last = max((line.get("returned", 0.0) for line in read(state_dir / TRACE_FILE)), default=0.0)
        if time.time() - last >= QUIET_S:
            return
        time.sleep(0.1)


def run(profile: Profile) -> Suite:
    stack_mod = require("meshplane.demo.stack", "bring_up")
    stack_mod.RECONCILE_SECONDS = SCHEDULE_SECONDS  # what the demo passes as `local up --schedule-interval`
    processes = require("meshplane.localnet.processes", "Supervisor")
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
        built = stack_mod.bring_up(supervisor, workdir, "us-east-1", StderrView())
        front = built.running["front-1"].sidecar
        blue = built.running["blue-2"].instance
        needle = f"::{blue.address}:{INGRESS_PORT}::"
        _wait(front, needle, True, timeout=180)  # the initial registration has reached front
        _all_routed(front, [f"::{r.instance.address}:{INGRESS_PORT}::" for r in built.running.values()
                            if r.instance.node in COLORS])
        _settle(built.local.state_dir)
        setup_s = time.monotonic() - started
        sd = built.clients.servicediscovery
        added, removed, timeline = [], [], []
        cluster = _blue_cluster(front)
        for i in range(changes):
            present = i % 2 == 1
            before = _stat_sum(front, _membership(cluster))
            put, accepted = _toggle(sd, built.cloud_map.service_ids[blue.node], blue, present)
            seen = _wait_toggle(front, cluster, before, needle, present)
            (added if present else removed).append(seen - accepted)
            wall = time.time() - (time.monotonic() - accepted)  # `accepted` on the wall clock
            timeline.append(Change(put, wall, wall + seen - accepted))
        samples = added + removed
        hops = breakdown(timeline, built.local.state_dir)
        weights = route_changes(built, profile.pick(40, 10, 2))
    finally:
        supervisor.stop_all()
        if built is not None:
            built.addresses.release_all()
    suite.add("event accepted → Envoy routing, p50", median(samples) * 1000, "ms", target=CONVERGENCE_P50_MS,
              note=f"{len(samples)} changes ({len(added)} added, {len(removed)} removed)")
    suite.add("event accepted → Envoy routing, p99", percentile(samples, 99) * 1000, "ms", target=CONVERGENCE_P99_MS)
    suite.add("event accepted → Envoy routing, max", max(samples) * 1000, "ms")
    _route_metrics(suite, weights, built.local.state_dir)
    suite.add("stack bring-up (not part of the latency)", setup_s, "s")
    suite.tables["per hop, wall clock (ms)"] = hops
    suite.tables["per direction (ms)"] = [
        {"change": name, "n": len(xs), "p50": median(xs) * 1000, "p99": percentile(xs, 99) * 1000,
         "max": max(xs) * 1000}
        for name, xs in (("instance registered", added), ("instance deregistered", removed)) if xs
    ]
    return suite
