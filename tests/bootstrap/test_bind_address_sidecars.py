"""Sidecars with `--bind-address` share one host: the task definitions `meshplane bootstrap` emits start them all.

Two Envoys on one host collide on the hot-restart base id (shared memory and a domain socket) unless each takes a
dynamic one, which the sidecar entrypoint always asks for, and on the admin port unless each binds its own address;
each health check asks its own Envoy, at the admin address that Envoy wrote.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from images.native import NativeContainer, container, emit
from meshplane.delivery.agent import FileWriter
from meshplane.localnet.waiting import wait_until
from meshplane.snapshot.snapshot import Snapshot
from support.ports import loopback_pool

ADMIN_PORT = 9901  # App Mesh's default: every sidecar of the host keeps it, on its own address
TASK_ARGS = ("--image", "meshplane-envoy:test", "--task-role-arn", "arn:aws:iam::123456789012:role/web",
             "--bucket", "snapshots", "--table", "state", "--mode", "file")  # fmt: skip


def emitted_envoy(node: str, bind: str, file_dir: Path) -> dict[str, object]:
    """The Envoy container of the file-mode task definition for one bind-address sidecar."""
    document = emit("--node-id", node, "--bind-address", bind, "--file-dir", str(file_dir), *TASK_ARGS)
    return container(document, "envoy")


@pytest.fixture
def addresses() -> Iterator[tuple[str, str]]:
    """Two sidecar addresses whose admin port is free."""
    pool = loopback_pool()
    held = tuple(pool.allocate((ADMIN_PORT, 15000, 15001)) for _ in range(2))
    yield held  # type: ignore[misc]
    for address in held:
        pool.release(address)


def test_the_emitted_sidecar_binds_its_address(tmp_path: Path) -> None:
    command = emitted_envoy("mesh/shop/virtualNode/a", "127.0.0.9", tmp_path)["command"]
    assert isinstance(command, list)
    assert command[command.index("--bind-address") + 1] == "127.0.0.9"


@pytest.mark.envoy
def test_two_sidecars_started_from_the_emitted_definitions_run_side_by_side(
    addresses: tuple[str, str], tmp_path: Path
) -> None:
    running: list[NativeContainer] = []
    try:
        for index, bind in enumerate(addresses):
            node, files = f"mesh/shop/virtualNode/n{index}", tmp_path / f"xds-{index}"
            FileWriter(files).write(Snapshot.build(node, {}))  # what the agent container writes first
            sidecar = NativeContainer(emitted_envoy(node, bind, files), tmp_path / f"n{index}",
                                      extra={"ENVOY_LOG_LEVEL": "warning"})  # fmt: skip
            assert sidecar.env["ENVOY_ADMIN_ACCESS_PORT"] == str(ADMIN_PORT)
            running.append(sidecar.start())
            wait_until(sidecar.healthy, 30, what=f"the sidecar on {bind} to be LIVE")
        assert all(sidecar.healthy() for sidecar in running)
    finally:
        for sidecar in running:
            sidecar.stop()
