"""`meshplane demo --non-interactive` end to end: real local up, real Envoys, real traffic.

The demo runs as a subprocess in its own session, with `--keep`: once it prints where
to poke at the mesh, the test pokes it (the gateway and the App Mesh API it printed),
then ends it with SIGTERM.  Everything it reports is checked against the acceptance
criteria of issue #7, and afterwards no process it started (nor anything left in its
session) may still be alive.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from meshplane.demo.zones import local_at_least
from meshplane.localnet.processes import alive

ROOT = Path(__file__).resolve().parents[2]
DEMO_TIMEOUT = 420
MARK_VAR = "DEMO_RUN_MARK"  # not MESHPLANE_*: local up strips those from its children
Run = tuple[subprocess.CompletedProcess[str], dict[str, Any], list[int]]
KEPT_HINT = " list-meshes"  # the `--keep` hint that carries the API URL (the gateway's comes before it)
# one demo run serves every test here: keep them on one xdist worker (`--dist loadgroup`)
pytestmark = [pytest.mark.envoy, pytest.mark.emulator, pytest.mark.xdist_group("demo"),
              pytest.mark.timeout(DEMO_TIMEOUT + 60)]  # the first test also pays for the demo run



def _marked(mark: str) -> list[int]:
    """Processes whose environment carries `mark` (inherited by everything the demo starts)."""
    found = []
    needle = f"{MARK_VAR}={mark}".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0") and alive(int(entry.name)):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Run, dict[str, Any]]]:
    report_path = tmp_path_factory.mktemp("demo") / "report.json"
    mark = uuid.uuid4().hex
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", MARK_VAR: mark}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "meshplane.cli", "demo", "--non-interactive", "--keep", "--report", str(report_path)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    lines = _lines_of(process)
    output: list[str] = []
    kept: dict[str, Any] = {}
    if _read_until(lines, output, KEPT_HINT, time.monotonic() + DEMO_TIMEOUT):
        kept = _poke(output)
        process.send_signal(signal.SIGTERM)  # what Ctrl-C or `docker stop` would do
    try:
        process.wait(timeout=DEMO_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        _kill(_marked(mark))
        pytest.fail(f"the demo did not finish within {DEMO_TIMEOUT}s:\n{''.join(output)[-6000:]}")
    _read_until(lines, output, None, time.monotonic() + 10)
    completed = subprocess.CompletedProcess(process.args, process.returncode, "".join(output), "")
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    leftovers = _marked(mark)
    yield (completed, report, leftovers), kept
    _kill(leftovers)  # never leave anything behind, even when the demo failed to clean up


def _lines_of(process: subprocess.Popen[str]) -> queue.Queue[str | None]:
    """The process's output, line by line, read on a thread; None once it is closed."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _read_until(lines: queue.Queue[str | None], output: list[str], marker: str | None, deadline: float) -> bool:
    """Append lines to `output` until one contains `marker` (True) or the output ends (False)."""
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            return False
        if line is None:
            return False
        output.append(line)
        if marker is not None and marker in line:
            return True
    return False


def _poke(output: list[str]) -> dict[str, Any]:
    """Use the kept mesh the way its printed hints say: the gateway, then the App Mesh API."""
    printed = "".join(output)
    gateway = re.search(r"curl (http://\S+)", printed)
    api = re.search(r"aws appmesh --endpoint-url (http://\S+) list-meshes", printed)
    console = re.search(r"console:  (http://\S+)/#token=(\S+)", printed)
    assert gateway and api and console, printed[-3000:]
    answer = requests.get(gateway.group(1), timeout=10)
    appmesh = boto3.client("appmesh", endpoint_url=api.group(1), region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    meshes = [m["meshName"] for m in appmesh.list_meshes()["meshes"]]
    page = requests.get(f"{console.group(1)}/", timeout=10)
    relayed = requests.get(f"{console.group(1)}/api/v20190125/meshes", timeout=10,
                           headers={"X-Meshplane-Console-Token": console.group(2)})  # fmt: skip
    return {"gateway_status": answer.status_code, "backend": answer.json().get("backend", {}), "meshes": meshes,
            "console_page": page.status_code, "console_meshes": [m["meshName"] for m in relayed.json()["meshes"]]}


def _kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _section(report: dict[str, Any], name: str) -> Any:
    """One part of the report; a demo that never got there fails with its own error message."""
    value = report.get(name)
    assert value, f"the demo measured no {name!r}: {report.get('error', 'no report written')}"
    return value


def test_demo_runs_to_the_end_with_exit_status_zero(demo_run: tuple[Run, dict[str, Any]]) -> None:
    (completed, report, _), _ = demo_run
    assert completed.returncode == 0, completed.stdout[-8000:]
    assert report["ok"] is True and report["error"] is None


def test_each_canary_step_splits_real_traffic_as_the_route_weights_say(demo_run: tuple[Run, dict[str, Any]]) -> None:
    (_, report, _), _ = demo_run
    steps = _section(report, "canary")
    assert [(s["blue_weight"], s["green_weight"]) for s in steps] == [(100, 0), (90, 10), (50, 50), (0, 100)]
    for step in steps:
        assert step["requests"] >= 250, step
        assert step["tolerance"] <= 0.15, step  # the tolerance is statistical, never a blanket pass
        assert abs(step["measured_green"] - step["green_weight"] / 100) <= step["tolerance"], step
        assert abs(step["measured_blue"] - step["blue_weight"] / 100) <= step["tolerance"], step
    assert steps[0]["by_color"].get("green", 0) == 0 and steps[-1]["by_color"].get("blue", 0) == 0
    for step in steps[1:]:  # a change reached Envoy, and the time it took was measured
        assert step["envoy_seconds"] is not None and 0 < step["envoy_seconds"] < 60, step


def test_killing_a_green_instance_costs_no_more_errors_than_the_retry_budget(
    demo_run: tuple[Run, dict[str, Any]],
) -> None:
    (_, report, _), _ = demo_run
    kill = _section(report, "kill")
    assert kill["requests"] >= 100, kill
    assert kill["client_errors"] <= kill["retry_budget"], kill
    assert kill["upstream_retries"] + kill["outlier_ejections"] > 0, kill  # the mesh did absorb failures
    assert kill["served_by"].get(kill["instance"], 0) <= kill["retry_budget"], kill
    assert kill["served_by"].get("green-1", 0) > 0, kill


def test_no_request_fails_while_the_ads_server_restarts(demo_run: tuple[Run, dict[str, Any]]) -> None:
    (_, report, _), _ = demo_run
    ads = _section(report, "ads_restart")
    assert ads["new_pid"] is not None and ads["new_pid"] != ads["old_pid"], ads
    assert all(seconds is not None for seconds in ads["reconnected_seconds"].values()), ads
    assert ads["requests"] >= 50, ads
    assert ads["failed"] == 0, ads


def test_an_authorization_policy_lets_only_the_allowed_caller_through(demo_run: tuple[Run, dict[str, Any]]) -> None:
    (_, report, _), _ = demo_run
    check = _section(report, "authorization")
    assert (check["allowed_caller"], check["allowed_status"]) == ("front", 200), check
    assert (check["refused_caller"], check["refused_status"]) == ("gateway", 403), check


def _policies(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    checks = {check["section"]: check for check in _section(report, "policies")}
    assert set(checks) == {"headers", "jwt", "mirror", "tracing", "outlierDetection+retryBudget", "rateLimit",
                           "zoneAware"}, checks
    return checks


def test_a_mirror_copies_its_share_to_the_shadow_and_every_answer_comes_from_the_primary(
    demo_run: tuple[Run, dict[str, Any]],
) -> None:
    (completed, report, _), _ = demo_run
    mirror = _policies(report)["mirror"]
    measured = mirror["measured"]  # 100 requests at 50 %: 50 ± 20 is 4 standard deviations
    assert abs(measured["shadow_received"] - 50) <= measured["tolerance"] == 20, mirror
    assert measured["answered_by"] == {"blue": measured["requests"]}, mirror["evidence"]
    assert measured["failures"] == []
    assert f"mirror: {mirror['evidence']}" in completed.stdout


def test_headers_are_set_and_removed_before_the_app_and_added_to_the_response(
    demo_run: tuple[Run, dict[str, Any]],
) -> None:
    (completed, report, _), _ = demo_run
    headers = _policies(report)["headers"]
    assert headers["measured"]["seen_at_front"] == {"x-demo-tenant": "blue-team"}, headers  # x-demo-secret removed
    assert headers["measured"]["response_header"] == "edge-headers", headers
    assert f"headers: {headers['evidence']}" in completed.stdout


def test_jwt_at_the_gateway_passes_a_valid_token_and_refuses_expired_and_missing_ones(
    demo_run: tuple[Run, dict[str, Any]],
) -> None:
    (completed, report, _), _ = demo_run
    jwt = _policies(report)["jwt"]
    assert jwt["measured"] == {"valid": 200, "expired": 401, "missing": 401, "public_without_token": 200}, jwt
    assert f"jwt: {jwt['evidence']}" in completed.stdout


def test_spans_of_every_proxy_on_the_path_reach_the_otlp_stand_in(demo_run: tuple[Run, dict[str, Any]]) -> None:
    (completed, report, _), _ = demo_run
    tracing = _policies(report)["tracing"]
    spans = tracing["measured"]["spans"]
    assert {f"{report['mesh']}/{name}" for name in ("gateway", "front", "blue")} <= set(spans), tracing
    assert tracing["measured"]["ok"] == tracing["measured"]["requests"], tracing
    assert f"tracing: {tracing['evidence']}" in completed.stdout


def test_a_host_failing_every_other_request_is_ejected_by_failure_percentage_alone(
    demo_run: tuple[Run, dict[str, Any]],
) -> None:
    (completed, report, _), _ = demo_run
    check = _policies(report)["outlierDetection+retryBudget"]
    measured = check["measured"]
    assert measured["ejections_enforced_failure_percentage"] >= 1, check
    assert measured["ejections_enforced_consecutive_5xx"] == 0, check  # App Mesh's own rule could not see it
    assert measured["upstream_rq_retry"] > 0, check  # the retries absorbed blue-2's 500s
    assert measured["client_errors"] <= measured["upstream_rq_retry_overflow"], check
    assert f"outlierDetection+retryBudget: {check['evidence']}" in completed.stdout


def test_a_caller_keeps_its_requests_in_its_zone_and_spills_over_when_its_zone_fails(
    demo_run: tuple[Run, dict[str, Any]],
) -> None:
    """front-2 joins in the second zone, opposite front-1; blue has one instance per zone.  The bar (18 of 20)
    is what a caller balancing across both zones clears with probability 2e-4 (`meshplane.demo.zones`)."""
    (completed, report, _), _ = demo_run
    check = _policies(report)["zoneAware"]
    measured = check["measured"]
    caller = measured["caller"]
    assert caller["name"] == "front-2" and caller["ok_answers"] == measured["requests"] == 20, check
    assert caller["kept"] >= local_at_least(20) == 18, check
    assert caller["routed_directly"] >= 20, check  # Envoy's zone-aware balancer made each choice
    spill = measured["spill"]
    assert spill["ejections_enforced_total"] >= 1, check
    other_zone = next(zone for zone in spill["answered_from"] if zone != caller["zone"])
    assert spill["answered_from"][other_zone] >= spill["requests"] - 1, check
    assert check["ok"] and f"zoneAware: {check['evidence']}" in completed.stdout, check


def test_the_rate_limit_admits_its_budget_and_answers_429_beyond_it(demo_run: tuple[Run, dict[str, Any]]) -> None:
    (completed, report, _), _ = demo_run
    limit = _policies(report)["rateLimit"]
    statuses = {int(k): v for k, v in limit["measured"]["statuses"].items()}
    assert 5 <= statuses.get(200, 0) <= 6 and statuses.get(200, 0) + statuses.get(429, 0) == 10, limit
    assert f"rateLimit: {limit['evidence']}" in completed.stdout
    assert all(check["ok"] for check in report["policies"]), report["policies"]


def test_a_healthy_rollout_is_promoted_and_a_failing_one_rolled_back_on_its_measured_5xx(
    demo_run: tuple[Run, dict[str, Any]],
) -> None:
    (_, report, _), _ = demo_run
    good, bad = _section(report, "rollouts")
    assert (good["canary"], good["phase"], good["decided_error_rate"]) == ("blue", "PROMOTED", 0.0), good
    assert good["decided_requests"] >= 10, good  # decided on measured traffic, never on time alone
    assert (bad["canary"], bad["phase"]) == ("green", "ROLLED_BACK"), bad
    assert "5xx rate" in bad["reason"] and bad["decided_error_rate"] > 5, bad  # 60% of green's answers fail
    assert 0 < bad["detect_seconds"] < bad["rollback_seconds"], bad


def test_no_process_is_left_afterwards(demo_run: tuple[Run, dict[str, Any]]) -> None:
    (_, report, leftovers), _ = demo_run
    assert report["leftover_pids"] == []
    names = {p["name"] for p in _section(report, "processes")}
    assert {"local-up", "envoy-gateway", "envoy-blue-1", "app-green-2"} <= names
    assert [p for p in report["processes"] if alive(p["pid"])] == []
    assert leftovers == []  # nothing that inherited the demo's environment survived it


def test_with_keep_the_mesh_keeps_serving_until_sigterm_ends_it_cleanly(demo_run: tuple[Run, dict[str, Any]]) -> None:
    (completed, report, _), kept = demo_run
    assert kept, f"the demo never said it keeps running:\n{completed.stdout[-6000:]}"
    assert kept["gateway_status"] == 200
    assert kept["backend"].get("service") == "blue"  # the last rollout put every request back on blue
    assert report["mesh"] in kept["meshes"]
    assert kept["console_page"] == 200 and report["mesh"] in kept["console_meshes"]  # the printed console URL works
    assert report["kept_running"] is True
    assert completed.returncode == 0
