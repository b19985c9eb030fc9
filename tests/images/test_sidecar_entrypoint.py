"""The sidecar image's entrypoint (`envoy_bootstrap/image/meshplane-envoy`), run natively with the environment a
task sets: it renders the bootstrap with `meshplane bootstrap`, hands Envoy the App Mesh image's command-line
variables, becomes Envoy, and a real Envoy started that way gets its config from a local ADS and carries traffic.
A bootstrap that cannot be rendered stops the sidecar with meshplane's message and leaves no file behind."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from delivery.harness import Publisher, ThreadedAds
from delivery.scenario import Scenario
from delivery.test_ads_traffic import answered_by
from meshplane.bootstrap.command import HEALTH_CHECK
from meshplane.localnet.processes import stop_group
from meshplane.localnet.waiting import wait_until
from support import Lab, validate

from .native import BIN, IMAGE_DIR

ENTRYPOINT = str(IMAGE_DIR / "meshplane-envoy")
NODE = "mesh/shop/virtualNode/web"
STUB = """#!/bin/sh
printf '%s\\n' "$@" > "$STUB_ARGS"
"""


@pytest.fixture
def stub_envoy(tmp_path: Path) -> Iterator[tuple[dict[str, str], Path]]:
    """An environment whose `envoy` only records its arguments, and the bootstrap path the entrypoint writes."""
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    (stubs / "envoy").write_text(STUB)
    (stubs / "envoy").chmod(0o755)
    bootstrap = tmp_path / "boot" / "envoy.json"
    bootstrap.parent.mkdir()
    env = {"PATH": f"{stubs}:{BIN}:/usr/bin:/bin", "STUB_ARGS": str(tmp_path / "args"),
           "MESHPLANE_BOOTSTRAP_PATH": str(bootstrap), "MESHPLANE_ADMIN_ADDRESS_PATH": str(tmp_path / "admin"),
           "APPMESH_VIRTUAL_NODE_NAME": NODE}  # fmt: skip
    yield env, bootstrap


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ENTRYPOINT, *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def envoy_args(env: dict[str, str]) -> list[str]:
    return Path(env["STUB_ARGS"]).read_text().splitlines()


def test_the_bootstrap_is_rendered_from_flags_and_environment_then_envoy_gets_it(stub_envoy) -> None:
    env, bootstrap = stub_envoy
    result = run(env, "--mode", "ads", "--ads-address", "10.0.0.5:18000", "--ads-delta")
    assert result.returncode == 0, result.stderr
    admin = env["MESHPLANE_ADMIN_ADDRESS_PATH"]
    assert envoy_args(env) == ["-c", str(bootstrap), "-l", "info", "--use-dynamic-base-id", "--admin-address-path",
                               admin]  # fmt: skip
    document = json.loads(bootstrap.read_text())
    assert document["node"]["id"] == NODE
    assert document["dynamic_resources"]["ads_config"]["api_type"] == "DELTA_GRPC"
    assert list(bootstrap.parent.iterdir()) == [bootstrap]


def test_envoy_log_level_and_concurrency_go_onto_envoys_command_line(stub_envoy) -> None:
    env, bootstrap = stub_envoy
    result = run({**env, "ENVOY_LOG_LEVEL": "debug", "ENVOY_CONCURRENCY": "2"})
    assert result.returncode == 0, result.stderr
    assert envoy_args(env) == ["-c", str(bootstrap), "-l", "debug", "--use-dynamic-base-id", "--admin-address-path",
                               env["MESHPLANE_ADMIN_ADDRESS_PATH"], "--concurrency", "2"]  # fmt: skip


def test_a_previous_envoys_admin_address_is_gone_before_the_new_one_starts(stub_envoy) -> None:
    """A restarted container keeps its /tmp: the old address must not pass the health check of a new Envoy."""
    env, _ = stub_envoy
    Path(env["MESHPLANE_ADMIN_ADDRESS_PATH"]).write_text("127.0.0.1:9901")
    assert run(env).returncode == 0
    assert not Path(env["MESHPLANE_ADMIN_ADDRESS_PATH"]).exists()


def test_no_argument_turns_the_output_into_something_other_than_a_bootstrap(stub_envoy) -> None:
    env, bootstrap = stub_envoy
    result = run({**env, "MESHPLANE_ENVOY_IMAGE": "x", "MESHPLANE_BUCKET": "b"}, "--emit", "task-definition",
                 "--task-role-arn", "arn:aws:iam::123456789012:role/r", "--format", "yaml")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(bootstrap.read_text())["node"]["id"] == NODE


def test_a_bootstrap_that_cannot_be_rendered_stops_before_envoy_and_leaves_no_file(stub_envoy) -> None:
    env, bootstrap = stub_envoy
    result = run({**env, "APPMESH_VIRTUAL_NODE_NAME": "web"})
    assert result.returncode == 2
    assert "meshplane bootstrap:" in result.stderr and "Traceback" not in result.stderr
    assert not Path(env["STUB_ARGS"]).exists(), "Envoy must not start"
    assert list(bootstrap.parent.iterdir()) == []


def test_an_unwritable_bootstrap_path_stops_before_envoy(stub_envoy, tmp_path: Path) -> None:
    env, _ = stub_envoy
    result = run({**env, "MESHPLANE_BOOTSTRAP_PATH": str(tmp_path / "missing" / "envoy.json")})
    assert result.returncode != 0 and not Path(env["STUB_ARGS"]).exists()


@pytest.mark.envoy
def test_a_real_envoy_started_by_the_entrypoint_gets_its_config_over_ads_and_carries_traffic(
    lab: Lab, ads: ThreadedAds, publisher: Publisher, tmp_path: Path
) -> None:
    scenario = Scenario.two_versions(lab)
    publisher.publish(scenario.snapshot())
    address = lab.pool.allocate((15000, 15001, 9901))
    bootstrap = tmp_path / "envoy.json"
    env = {"PATH": f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}", "MESHPLANE_BOOTSTRAP_PATH": str(bootstrap),
           "MESHPLANE_ADMIN_ADDRESS_PATH": str(tmp_path / "admin-address"),
           "APPMESH_VIRTUAL_NODE_NAME": scenario.front.path, "ENVOY_LOG_LEVEL": "warning",
           "ENVOY_CONCURRENCY": "1"}  # fmt: skip
    with (tmp_path / "envoy.log").open("wb") as log:
        process = subprocess.Popen([ENTRYPOINT, "--ads-address", ads.address, "--bind-address", address], env=env,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        info = wait_until(lambda: _live(address, process, tmp_path / "envoy.log"), 30, what="Envoy to be LIVE")
        options = info["command_line_options"]
        assert options["concurrency"] == 1 and options["log_level"] == "warning"
        assert options["config_path"] == str(bootstrap)
        assert Path(f"/proc/{process.pid}/exe").resolve().name == "envoy", "the entrypoint execs Envoy itself"
        assert [answered_by(address)() for _ in range(3)] == ["back-v1"] * 3
        assert Path(env["MESHPLANE_ADMIN_ADDRESS_PATH"]).read_text() == f"{address}:9901"
        check = subprocess.run(["sh", "-c", HEALTH_CHECK], env=env, capture_output=True, timeout=10, check=False)
        assert check.returncode == 0, check.stderr
        validate(json.loads(bootstrap.read_text()), tmp_path / "validate")
    finally:
        stop_group(process)
        lab.pool.release(address)


def _live(address: str, process: subprocess.Popen[bytes], log: Path) -> dict[str, object] | None:
    if process.poll() is not None:
        raise AssertionError(f"the sidecar exited with {process.returncode}:\n{log.read_text()[-3000:]}")
    try:
        with urllib.request.urlopen(f"http://{address}:9901/server_info", timeout=1) as response:
            info: dict[str, object] = json.load(response)
    except OSError:
        return None
    return info if info["state"] == "LIVE" else None
