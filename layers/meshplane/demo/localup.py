"""Run `meshplane local up` as a child process and learn its endpoints from its state file."""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshplane.demo.envoy import DemoError
from meshplane.localnet.loopback import free_ports
from meshplane.localnet.processes import Child, Supervisor

STATE_FILE = "state.json"
RECONCILE_SECONDS = 10.0


@dataclass
class LocalUp:
    """The running emulator stack: where its AWS endpoint, API and ADS server listen."""

    child: Child
    state_dir: Path
    api_port: int
    ads_port: int

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def ads_address(self) -> str:
        return f"127.0.0.1:{self.ads_port}"

    def state(self) -> dict[str, Any]:
        try:
            return json.loads((self.state_dir / STATE_FILE).read_text())
        except (OSError, ValueError):
            return {}

    @property
    def aws_endpoint(self) -> str:
        endpoint = self.state().get("endpointUrl")
        if not endpoint:
            raise DemoError(f"local up state file has no endpointUrl: {self.state()}")
        return str(endpoint)

    def ads_pid(self) -> int | None:
        """The current ADS child's pid, as local up records it (rewritten when it restarts the child)."""
        pid = self.state().get("adsPid")
        return pid if isinstance(pid, int) else None


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=1) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def start(supervisor: Supervisor, state_dir: Path, timeout: float = 180.0) -> LocalUp:
    """Start local up on free ports and wait until its API answers `/healthz`.

    The reconcile schedule runs every few seconds instead of every minute, so the demo
    does not wait on it when an event is late.
    """
    api_port, ads_port, emulator_port = free_ports(3)
    command = [sys.executable, "-m", "meshplane.cli", "local", "up", "--api-port", str(api_port),
               "--ads-port", str(ads_port), "--emulator-port", str(emulator_port), "--state-dir", str(state_dir),
               "--schedule-interval", str(RECONCILE_SECONDS)]  # fmt: skip
    child = supervisor.start("local-up", command)
    stack = LocalUp(child, state_dir, api_port, ads_port)
    deadline = time.monotonic() + timeout
    while not (_healthy(stack.api_url) and stack.state()):
        if not child.running:
            raise DemoError(f"`meshplane local up` exited with {child.process.returncode}:\n{child.log_tail()}")
        if time.monotonic() > deadline:
            raise DemoError(f"`meshplane local up` not healthy after {timeout:.0f}s:\n{child.log_tail()}")
        time.sleep(0.2)
    return stack
