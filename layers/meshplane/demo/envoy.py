"""Envoy sidecars for the demo: bootstrapped by `meshplane bootstrap`, configured over ADS.

The demo uses the CLI exactly as an operator would, then runs the real Envoy binary
and watches it only through its admin API.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from meshplane.localnet.envoy_process import AdminApi, EnvoyError, await_admin_address, envoy_command
from meshplane.localnet.loopback import free_port
from meshplane.localnet.processes import Child, Supervisor


class DemoError(RuntimeError):
    """A step of the demo could not complete; the message says which and why."""


def bootstrap(node_id: str, ads: str, admin_port: int, bind_address: str, workdir: Path, zone: str | None = None
              ) -> Path:  # fmt: skip
    """Run `meshplane bootstrap` for one proxy and store what it prints."""
    command = [sys.executable, "-m", "meshplane.cli", "bootstrap", "--node-id", node_id, "--mode", "ads",
               "--ads-address", ads, "--admin-port", str(admin_port), "--bind-address", bind_address,
               "--format", "json", *(("--availability-zone", zone) if zone else ())]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise DemoError(f"`meshplane bootstrap` failed for {node_id}:\n{result.stderr[-2000:]}")
    text = result.stdout.strip()
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / ("bootstrap.json" if text.startswith("{") else "bootstrap.yaml")
    path.write_text(text + "\n")
    return path


@dataclass
class Sidecar(AdminApi):
    """A running Envoy and its admin API."""

    name: str
    child: Child
    admin: str  # host:port

    @property
    def admin_url(self) -> str:
        return f"http://{self.admin}"


def start_sidecar(
    supervisor: Supervisor, name: str, node_id: str, ads: str, bind_address: str, workdir: Path,
    zone: str | None = None,
) -> Sidecar:
    """Bootstrap and start one Envoy (in `zone` when given); returns once its admin API answers."""
    admin_port = free_port(bind_address)
    config = bootstrap(node_id, ads, admin_port, bind_address, workdir, zone)
    address_file = workdir / "admin-address"
    address_file.unlink(missing_ok=True)
    command = envoy_command(config, address_file, log_level="warning")
    child = supervisor.start(f"envoy-{name}", command, cwd=workdir)
    try:
        address = await_admin_address(address_file, lambda: child.running, timeout=30)
    except (EnvoyError, TimeoutError):
        raise DemoError(f"Envoy {name} did not open its admin port:\n{child.log_tail()}") from None
    return Sidecar(name, child, address)
