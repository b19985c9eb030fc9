"""Sidecars with `--bind-address` share one host: the command `meshplane bootstrap` emits starts them all.

Two Envoys on one host collide on the hot-restart base id (shared memory and a domain socket) unless
each takes a dynamic one, and on the admin port unless each binds its own address.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from meshplane.bootstrap.platforms import BOOTSTRAP_PATH
from meshplane.localnet.envoy_process import wait_until
from meshplane.localnet.processes import stop_group
from support.ports import loopback_pool

BIN = Path(sys.executable).parent
ADMIN_PORT = 9901  # App Mesh's default: every sidecar of the host keeps it, on its own address


def emitted_container(node: str, bind: str, ads: str) -> dict[str, object]:
    """The Envoy container `meshplane bootstrap --emit task-definition` prints for one bind-address sidecar."""
    result = subprocess.run(
        [str(BIN / "meshplane"), "bootstrap", "--node-id", node, "--emit", "task-definition",
         "--bind-address", bind, "--ads-address", ads],
        capture_output=True, text=True, timeout=60, check=True, env={"PATH": os.environ.get("PATH", "")},
    )  # fmt: skip
    (container,) = json.loads(result.stdout)["containerDefinitions"]
    return container


@pytest.fixture
def addresses() -> Iterator[tuple[str, str, str]]:
    """Two sidecar addresses whose admin port is free, and one for an ADS server that never answers."""
    pool = loopback_pool()
    held = tuple(pool.allocate((ADMIN_PORT, 18000)) for _ in range(3))
    yield held  # type: ignore[misc]
    for address in held:
        pool.release(address)


def test_the_emitted_command_binds_each_sidecar_to_its_address_with_a_dynamic_base_id() -> None:
    command = emitted_container("mesh/shop/virtualNode/a", "127.0.0.9", "127.0.0.1:18000")["command"]
    assert isinstance(command, list)
    assert "--bind-address 127.0.0.9 >" in command[0]
    assert command[0].endswith("--use-dynamic-base-id")


@pytest.mark.envoy
def test_two_sidecars_started_by_the_emitted_command_run_side_by_side(
    addresses: tuple[str, str, str], tmp_path: Path
) -> None:
    *binds, ads = addresses
    running: list[subprocess.Popen[bytes]] = []
    try:
        for index, bind in enumerate(binds):
            container = emitted_container(f"mesh/shop/virtualNode/n{index}", bind, f"{ads}:18000")
            environment = {e["name"]: e["value"] for e in container["environment"]}  # type: ignore[index, union-attr]
            assert environment["ENVOY_ADMIN_ACCESS_PORT"] == str(ADMIN_PORT)
            command = container["command"][0].replace(BOOTSTRAP_PATH, str(tmp_path / f"n{index}.json"))  # type: ignore[index]
            log = tmp_path / f"n{index}.log"
            with log.open("wb") as out:
                running.append(subprocess.Popen(
                    ["sh", "-c", command], env={**environment, "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
                                                 "ENVOY_LOG_LEVEL": "warning"},
                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                ))  # fmt: skip
            wait_until(lambda b=bind, p=running[-1], f=log: _admin_answers(b, p, f), 30, what=f"admin on {bind}")
        for index, (bind, process) in enumerate(zip(binds, running, strict=True)):
            assert _admin_answers(bind, process, tmp_path / f"n{index}.log")
    finally:
        for process in running:
            stop_group(process)


def _admin_answers(address: str, process: subprocess.Popen[bytes], log: Path) -> bool:
    """Whether the sidecar's admin API answers on its own address; fails at once if its Envoy exited."""
    if process.poll() is not None:
        raise AssertionError(f"Envoy on {address} exited with {process.returncode}:\n{log.read_text()[-2000:]}")
    try:
        with urllib.request.urlopen(f"http://{address}:{ADMIN_PORT}/server_info", timeout=1) as response:
            return json.load(response)["state"] in {"LIVE", "PRE_INITIALIZING", "INITIALIZING"}
    except OSError:
        return False
