"""`meshplane demo` from start to clean shutdown, filling the report as it goes."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import tempfile
import threading
import time
import traceback
from pathlib import Path

from meshplane.demo import authorization, beyond, rollouts, scenario, stack, zoned
from meshplane.demo.plan import ZONES
from meshplane.demo.report import ProcessInfo, Report
from meshplane.demo.traffic import Split, TrafficGenerator
from meshplane.demo.view import View
from meshplane.localnet.processes import Supervisor

KILLED_INSTANCE = "green-2"


def _probe(address: tuple[str, int]) -> tuple[int, str, str]:
    """One request through the gateway: (status, answering color, body excerpt)."""
    connection = http.client.HTTPConnection(*address, timeout=5)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        body = response.read().decode(errors="replace")
    except (OSError, http.client.HTTPException) as error:
        return 0, "", str(error)
    finally:
        connection.close()
    try:
        color = str(json.loads(body).get("backend", {}).get("service", ""))
    except (ValueError, AttributeError):
        color = ""
    return response.status, color, body


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def run(view: View, *, keep: bool, report_path: Path | None, region: str) -> int:
    """Run the whole demo; SIGTERM and Ctrl-C both end it through the same clean shutdown."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return _run(view, keep=keep, report_path=report_path, region=region)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(view: View, *, keep: bool, report_path: Path | None, region: str) -> int:
    report = Report()
    workdir = Path(tempfile.mkdtemp(prefix="meshplane-demo-"))
    supervisor = Supervisor(workdir / "logs")
    traffic: TrafficGenerator | None = None
    built: stack.Stack | None = None
    started = time.monotonic()
    try:
        view.title("meshplane demo: a live App Mesh-compatible mesh on this machine")
        built = stack.bring_up(supervisor, workdir, region, view)
        report.timings.update(built.timings)
        report.mesh, report.api_url = built.plan.mesh, built.local.api_url
        host, port = built.gateway_address
        report.gateway_url = f"http://{host}:{port}/"
        with view.step("Waiting for the first answer through gateway → front → color"):
            first = stack.wait_for_traffic(built, lambda: _probe((host, port)))
        report.timings["registration_to_first_answer"] = round(first, 3)
        view.info(f"gateway {report.gateway_url} answered {first:.2f}s after the first registration")

        traffic = TrafficGenerator(host, port)
        traffic.start()
        _canary(built, traffic, report, view)
        _resilience(built, traffic, report, view)
        _authorization(built, report, view)
        _rollouts(built, traffic, report, view)
        traffic.stop()
        everything = Split.of(traffic.samples())
        report.total_requests, report.total_failed = everything.total, everything.failed
        _policies(built, report, view)
        _summary(report, view)
        report.ok = True
        if keep:
            report.kept_running = True
            _keep(built, report, view)
    except Exception as error:
        report.error = f"{type(error).__name__}: {error}"
        supervisor.log_dir.mkdir(parents=True, exist_ok=True)
        (supervisor.log_dir / "demo-error.log").write_text(traceback.format_exc())
        view.info(f"FAILED: {report.error}")
        view.info(f"logs (and the traceback, demo-error.log) are in {supervisor.log_dir}")
    except KeyboardInterrupt:
        if not report.kept_running:
            report.error = "interrupted"
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the shutdown short
        if traffic is not None:
            traffic.stop()
        report.processes = [ProcessInfo(name=c.name, pid=c.pid) for c in supervisor.children]
        with view.step("Stopping every process the demo started"):
            report.leftover_pids = supervisor.stop_all()
        if built is not None:
            built.addresses.release_all()
        report.timings["total"] = round(time.monotonic() - started, 3)
        view.info(f"{len(supervisor.seen)} processes stopped, {len(report.leftover_pids)} left; "
                  f"total {report.timings['total']:.1f}s")  # fmt: skip
        if report_path is not None:
            report.write(report_path)
        if report.ok and not report.leftover_pids:
            shutil.rmtree(workdir, ignore_errors=True)  # logs are kept only when something went wrong
    return 0 if report.ok and not report.leftover_pids else 1


def _canary(built: stack.Stack, traffic: TrafficGenerator, report: Report, view: View) -> None:
    view.title("Canary: blue → green by update_route, measured on real responses")
    front = built.running["front-1"].sidecar
    previous: tuple[int, int] | None = None
    for blue, green in scenario.CANARY:
        title = f"Route weights blue {blue} / green {green}"
        with view.progress(title, scenario.SAMPLES_PER_STEP) as advance:
            step = scenario.canary_step(built, traffic, front, blue, green, previous, advance)
        report.canary.append(step)
        reached = (f"; the route reached front's Envoy {step.envoy_seconds * 1000:.0f} ms after update_route"
                   if step.envoy_seconds is not None else " (the initial route)")  # fmt: skip
        view.info(f"measured blue {step.measured_blue:.1%} / green {step.measured_green:.1%} over {step.requests} "
                  f"requests, {step.failed} failed{reached}")  # fmt: skip
        previous = (blue, green)
    view.table(
        "Canary steps (every number measured)",
        ["weights b/g", "measured blue", "measured green", "± tol", "requests", "failed", "API→Envoy",
         "API→traffic shift"],
        [[f"{s.blue_weight}/{s.green_weight}", f"{s.measured_blue:.1%}", f"{s.measured_green:.1%}",
          f"{s.tolerance:.1%}", str(s.requests), str(s.failed), _ms(s.envoy_seconds), _ms(s.first_response_seconds)]
         for s in report.canary],
    )  # fmt: skip


def _resilience(built: stack.Stack, traffic: TrafficGenerator, report: Report, view: View) -> None:
    view.title("Resilience")
    front = built.running["front-1"].sidecar
    with view.step(f"Killing {KILLED_INSTANCE} (its app and its Envoy) under traffic"):
        report.kill = kill = scenario.kill_instance(built, traffic, front, KILLED_INSTANCE)
    view.info(f"{kill.requests} requests in {kill.window_seconds:.0f}s: {kill.client_errors} client-visible errors "
              f"(budget {kill.retry_budget}); front's Envoy retried {kill.upstream_retries} times and ejected "
              f"{kill.outlier_ejections} host(s); served by {kill.served_by}")  # fmt: skip
    with view.step("Killing the ADS server (local up restarts it) under traffic"):
        report.ads_restart = ads = scenario.restart_ads(built, traffic)
    slowest = max((v for v in ads.reconnected_seconds.values() if v is not None), default=None)
    view.info(f"ADS pid {ads.old_pid} → {ads.new_pid} in {_ms(ads.restarted_seconds)}; all Envoys reconnected "
              f"within {_ms(slowest)}; {ads.requests} requests, {ads.failed} failed")  # fmt: skip


def _authorization(built: stack.Stack, report: Report, view: View) -> None:
    view.title("Authorization: a meshplane policy beyond App Mesh")
    with view.step(f"Calling {authorization.TARGET}'s Envoy directly as front and as the gateway (both mTLS-valid)"):
        report.authorization = found = authorization.check(built)
    view.info(f"as {found.allowed_caller}: HTTP {found.allowed_status}; as {found.refused_caller}: "
              f"HTTP {found.refused_status} (its policy allows front only)")


def _rollouts(built: stack.Stack, traffic: TrafficGenerator, report: Report, view: View) -> None:
    """Two rollouts the controller drives on measured traffic (`demo.rollouts`): one promoted, one rolled back."""
    view.title("Rollouts: meshplane steps the route and decides on front's measured traffic")
    stop = threading.Event()
    collector = rollouts.collect(built, stop)
    try:
        with view.step("green → blue, healthy (steps 50%, 80%, 3 s each; ≤5% 5xx over ≥10 requests)"):
            report.rollouts.append(rollouts.roll(built, traffic, "back-to-blue", "green", "blue", pace=rollouts.SHOWN))
        with view.step(f"blue → green again, green answering 500 to {rollouts.BAD_SHARE:.0%} of requests from its "
                       "second step"):
            report.rollouts.append(rollouts.roll(built, traffic, "green-500s", "blue", "green",
                                                 fault_share=rollouts.BAD_SHARE, pace=rollouts.SHOWN))
    finally:
        stop.set()
        collector.join(timeout=5)
    for result in report.rollouts:
        rate = f"{result.decided_error_rate:.1f}%" if result.decided_error_rate is not None else "-"
        timing = (f"; traffic back on {result.stable} {result.rollback_seconds:.2f}s after the failure began "
                  f"(decided after {result.detect_seconds:.2f}s)" if result.rollback_seconds is not None else "")
        view.info(f"{result.name}: {result.phase} on {result.decided_requests} canary requests, 5xx {rate}"
                  f"{timing}: {result.reason}")


def _policies(built: stack.Stack, report: Report, view: View) -> None:
    """Every other policy section, each shown on its own requests once the steady traffic has stopped; zone-aware
    routing last, since the caller it adds in the second zone keeps blue-2 from front-1, whose ejection
    `beyond` shows."""
    view.title("Beyond App Mesh: meshplane policies on real traffic")
    started = time.monotonic()
    with view.step(f"Starting {zoned.JOINING} in {ZONES[1]} (front-1 is in {ZONES[0]}), not registered yet"):
        zoned.start_caller(built)
    report.timings["policy_zone_caller_start"] = round(time.monotonic() - started, 3)
    report.policies = beyond.run(built, view.step, report.timings)
    zone_started = time.monotonic()
    with view.step(f"Registering {zoned.JOINING}: blue's zoneAware policy keeps each front in its zone"):
        report.policies.append(zoned.check(built))
    report.timings["policy_zone_aware"] = round(time.monotonic() - zone_started, 3)
    report.timings["policies"] = round(time.monotonic() - started, 3)
    for check in report.policies:
        view.info(f"{check.section}: {check.evidence}")


def _summary(report: Report, view: View) -> None:
    kill, ads = report.kill, report.ads_restart
    assert kill is not None and ads is not None
    rows = [[f"canary {s.blue_weight}/{s.green_weight}", f"blue {s.measured_blue:.1%} green {s.measured_green:.1%}",
             "ok" if abs(s.measured_green - s.green_weight / 100) <= s.tolerance else "OUT OF TOLERANCE"]
            for s in report.canary]  # fmt: skip
    rows.append([f"kill {kill.instance}", f"{kill.client_errors} errors / {kill.requests}",
                 "ok" if kill.client_errors <= kill.retry_budget else "OVER BUDGET"])  # fmt: skip
    rows.append(["ADS restart", f"{ads.failed} failed / {ads.requests}", "ok" if ads.failed == 0 else "FAILURES"])
    if report.authorization is not None:
        check = report.authorization
        held = check.allowed_status == 200 and check.refused_status == 403
        rows.append(["authorization", f"front {check.allowed_status}, gateway {check.refused_status}",
                     "ok" if held else "NOT ENFORCED"])
    for result in report.rollouts:
        expected = "ROLLED_BACK" if result.fault_share else "PROMOTED"
        rollback = f", back in {result.rollback_seconds:.2f}s" if result.rollback_seconds is not None else ""
        rows.append([f"rollout {result.name}", f"{result.phase}{rollback}",
                     "ok" if result.phase == expected else "UNEXPECTED"])
    rows += [[f"policy {c.section}", c.policy, "ok" if c.ok else "NOT SHOWN"] for c in report.policies]
    rows.append(["all traffic", f"{report.total_failed} failed / {report.total_requests}", ""])
    rows += [[f"time: {k}", f"{v:.2f}s", ""] for k, v in report.timings.items()]
    view.table("Summary", ["what", "measured", "verdict"], rows)


def _keep(built: stack.Stack, report: Report, view: View) -> None:
    """Leave everything running until Ctrl-C (or SIGTERM), printing where to poke at it."""
    from meshplane.console.server import serve_in_background

    view.title("The mesh keeps running (Ctrl-C to stop it)")
    console = serve_in_background(built.local.api_url, built.clients.appmesh.meta.region_name)
    view.info(f"console:  {console.url}  (open it in a browser: the topology, every resource, route weights)")
    view.info(f"gateway:  curl {report.gateway_url}")
    for name, running in built.running.items():
        view.info(f"{name:8} {running.instance.address}  Envoy admin http://{running.sidecar.admin}/")
    env = f"AWS_ACCESS_KEY_ID={os.environ.get('AWS_ACCESS_KEY_ID', 'testing')} " \
          f"AWS_SECRET_ACCESS_KEY=... AWS_DEFAULT_REGION={built.clients.appmesh.meta.region_name}"
    view.info(f"{env} aws appmesh --endpoint-url {built.local.api_url} list-meshes")
    view.info(f"aws appmesh --endpoint-url {built.local.api_url} describe-route --mesh-name {built.plan.mesh} "
              f"--virtual-router-name {built.plan.router} --route-name {built.plan.route}")  # fmt: skip
    view.info(f"aws servicediscovery --endpoint-url {built.local.endpoint_url} list-namespaces")
    with contextlib.suppress(KeyboardInterrupt):  # SIGTERM arrives as KeyboardInterrupt too
        while True:
            time.sleep(1.0)
    console.close()


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"
