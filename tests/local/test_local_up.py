"""`meshplane local up`: readiness, isolation between instances, and a clean exit on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from meshplane.local.harness import LocalStack, start_local_up
from meshplane.localnet import processes
from meshplane.localnet.loopback import free_ports


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not running
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def _pids(stack: LocalStack) -> list[int]:
    state = stack.state
    pids = [state["pid"], state["emulatorPid"], *state["workerPids"]]
    return [pid for pid in [*pids, state.get("adsPid")] if pid]


def test_local_up_answers_healthz_and_serves_the_app_mesh_api(local_stack: LocalStack) -> None:
    with urllib.request.urlopen(f"{local_stack.api_url}/healthz", timeout=5) as response:
        assert response.status == 200
    name = f"healthz-{os.getpid()}"
    local_stack.appmesh().create_mesh(meshName=name)
    assert name in {m["meshName"] for m in local_stack.appmesh().list_meshes()["meshes"]}
    assert local_stack.table and local_stack.bucket and local_stack.bus
    print(f"local up became healthy in {local_stack.startup_seconds:.1f}s: {local_stack.state['timings']}")


def test_local_up_supervises_the_ads_server_and_restarts_it(local_stack: LocalStack) -> None:
    state_file = local_stack.state_dir / "state.json"
    pid = json.loads(state_file.read_text())["adsPid"]
    assert pid and _alive(pid)
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        state = json.loads(state_file.read_text())
        if state["adsPid"] != pid and state["adsRestarts"] >= 1 and _alive(state["adsPid"]):
            return
        time.sleep(0.2)
    pytest.fail("the ADS server was not restarted")


def test_two_instances_do_not_interfere_and_sigterm_leaves_no_process(
    local_stack: LocalStack, tmp_path: Path
) -> None:
    other = start_local_up(tmp_path / "second", "--no-ads")
    try:
        assert {other.api_url, other.endpoint_url}.isdisjoint({local_stack.api_url, local_stack.endpoint_url})
        mesh = f"only-in-second-{os.getpid()}"
        other.appmesh().create_mesh(meshName=mesh)
        assert mesh not in {m["meshName"] for m in local_stack.appmesh().list_meshes()["meshes"]}
        assert mesh in {m["meshName"] for m in other.appmesh().list_meshes()["meshes"]}
        pids = _pids(other)
        assert len(pids) >= 3 and all(_alive(pid) for pid in pids)
    finally:
        other.process.send_signal(signal.SIGTERM)
        exit_code = other.process.wait(30)
    assert exit_code == 0
    assert [pid for pid in pids if _alive(pid)] == []
    assert not (other.state_dir / "state.json").exists()
    with urllib.request.urlopen(f"{local_stack.api_url}/healthz", timeout=5) as response:
        assert response.status == 200  # the first instance is untouched


def test_a_dead_aws_endpoint_url_stops_startup_with_one_line_saying_so(tmp_path: Path) -> None:
    dead, api_port = free_ports(2)  # nothing listens on `dead`
    env = {**os.environ, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{dead}", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    log = tmp_path / "local-up.log"
    up = processes.spawn([sys.executable, "-m", "meshplane.cli", "local", "up", "--no-ads", "--api-port", str(api_port),
                          "--state-dir", str(tmp_path / "state")], env, log=log)  # fmt: skip
    try:
        exit_code = up.wait(30)
    finally:
        processes.stop_group(up)
    text = log.read_text()
    assert exit_code != 0, text
    assert "emulator ready" not in text and "Traceback" not in text, text
    errors = [line for line in text.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and f"http://127.0.0.1:{dead} did not answer" in errors[0], text
    assert not (tmp_path / "state" / "state.json").exists()
