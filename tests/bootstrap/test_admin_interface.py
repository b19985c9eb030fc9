"""The admin interface on a real Envoy bootstrapped by `meshplane bootstrap`: it listens where
ENVOY_ADMIN_ACCESS_BIND says (App Mesh's 0.0.0.0 only when asked for, 127.0.0.1 otherwise) and logs
its requests to ENVOY_ADMIN_ACCESS_LOG_FILE."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import pytest
from meshplane.model.ids import Kind, ProxyId
from support import EnvoyRunner, Lab, MeshBuilder, listener, wait_until
from support.fixtures import envoy_runner, lab
from traffic.bootstrapped import start

pytestmark = pytest.mark.envoy
__all__ = ["envoy_runner", "lab"]


def test_admin_listens_on_the_bind_address_asked_for_and_logs_its_requests(
    lab: Lab, envoy_runner: EnvoyRunner, tmp_path: Path
) -> None:
    mesh = f"admin-{uuid.uuid4().hex[:8]}"
    state = MeshBuilder(mesh).node("front", listener(8080)).build()
    sidecar, admin = lab.address(), lab.address()
    log = tmp_path / "admin-access.log"
    envoy, _ = start(envoy_runner, state, ProxyId(mesh, Kind.VIRTUAL_NODE, "front"), sidecar,
                     {"ENVOY_ADMIN_ACCESS_BIND": admin, "ENVOY_ADMIN_ACCESS_LOG_FILE": str(log)}, tmp_path)  # fmt: skip
    assert envoy.admin_host == admin
    assert envoy.admin_get("/server_info")[0] == 200
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((sidecar, envoy.admin_port), timeout=2).close()
    envoy.admin_post("/reopen_logs")  # flushes access logs now, not at Envoy's 10 s file flush
    wait_until(lambda: log.exists() and "GET /server_info" in log.read_text(), 5, what="the admin access log line")
