"""Start a real Envoy the same way everywhere, and read its admin API.

Envoy runs with one worker thread, a dynamic base id (no shared-memory clash
between parallel Envoys) and its admin server address written back through
`--admin-address-path`, so callers may let the kernel pick the admin port.
The demo runs Envoy under its `Supervisor`; the test harness under `stop_group`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from meshplane import envoy_binary as lookup
from meshplane.localnet.waiting import wait_until


class EnvoyError(RuntimeError):
    """Envoy failed to start, validate or become ready; the message carries its log tail."""


def envoy_binary() -> str:
    """The Envoy installed into the venv next to this interpreter, else the one on PATH."""
    try:
        return lookup.find()
    except FileNotFoundError as exc:
        raise EnvoyError(str(exc)) from exc


def envoy_command(config: Path, address_file: Path, *, log_level: str, log_path: Path | None = None) -> list[str]:
    """The command line for one sidecar-sized Envoy that exits promptly on SIGTERM."""
    command = [
        envoy_binary(),
        "-c", str(config),
        "--use-dynamic-base-id",
        "--concurrency", "1",
        "--admin-address-path", str(address_file),
        "-l", log_level,
        "--drain-time-s", "0",
        "--parent-shutdown-time-s", "1",
    ]  # fmt: skip
    if log_path is not None:
        command += ["--log-path", str(log_path)]
    return command


def await_admin_address(address_file: Path, running: Callable[[], bool], timeout: float) -> str:
    """`host:port` of the admin server once Envoy wrote it; EnvoyError if Envoy exits first, else TimeoutError."""

    def address() -> str:
        if not running():
            raise EnvoyError("Envoy exited before opening its admin port")
        return address_file.read_text().strip() if address_file.exists() else ""

    return wait_until(address, timeout, what="the admin address")


class AdminApi:
    """Envoy's admin API at `admin_url`; mixed into the classes that own an Envoy process."""

    @property
    def admin_url(self) -> str:
        raise NotImplementedError

    def admin_get(self, path: str, timeout: float = 5.0) -> tuple[int, str]:
        return self._admin("GET", path, timeout)

    def admin_post(self, path: str, timeout: float = 5.0) -> tuple[int, str]:
        return self._admin("POST", path, timeout)

    def _admin(self, method: str, path: str, timeout: float) -> tuple[int, str]:
        request = urllib.request.Request(self.admin_url + path, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def stats(self, filter_regex: str | None = None) -> dict[str, int]:
        """Counters and gauges as `{name: value}` (histograms and text stats are left out)."""
        query = "/stats?format=json" + (f"&filter={urllib.parse.quote(filter_regex)}" if filter_regex else "")
        _, body = self.admin_get(query)
        out: dict[str, int] = {}
        for entry in json.loads(body).get("stats", []):
            if isinstance(entry.get("value"), int):  # xDS adds text stats such as *.version_text
                out[entry["name"]] = entry["value"]
        return out

    def stat(self, name: str) -> int:
        """One counter or gauge; 0 when Envoy has not created it (yet)."""
        return self.stats(f"^{_escape(name)}$").get(name, 0)

    def clusters(self) -> dict[str, Any]:
        """`/clusters?format=json`, keyed by cluster name."""
        _, body = self.admin_get("/clusters?format=json")
        return {c["name"]: c for c in json.loads(body).get("cluster_statuses", [])}

    def hosts(self, cluster: str) -> dict[str, dict[str, Any]]:
        """The hosts of `cluster` keyed by `ip:port`, each with its `health_status` flags."""
        hosts: dict[str, dict[str, Any]] = {}
        for host in self.clusters().get(cluster, {}).get("host_statuses", []):
            socket_address = host["address"]["socket_address"]
            hosts[f"{socket_address['address']}:{socket_address['port_value']}"] = host
        return hosts

    def healthy_hosts(self, cluster: str) -> set[str]:
        """Hosts of `cluster` with no failure flag set (active HC, outlier ejection, EDS)."""
        return {address for address, host in self.hosts(cluster).items() if _is_healthy(host["health_status"])}

    def config_dump(self, resource: str | None = None) -> dict[str, Any]:
        _, body = self.admin_get("/config_dump" + (f"?resource={resource}" if resource else ""))
        dump: dict[str, Any] = json.loads(body)
        return dump

    def listener_names(self) -> list[str]:
        _, body = self.admin_get("/listeners?format=json")
        return [entry["name"] for entry in json.loads(body).get("listener_statuses", [])]

    def reset_counters(self) -> None:
        self.admin_post("/reset_counters")


def _is_healthy(status: Mapping[str, Any]) -> bool:
    flags = ("failed_active_health_check", "failed_outlier_check", "failed_eds_health_check", "pending_active_hc")
    return not any(status.get(flag) for flag in flags) and status.get("eds_health_status", "HEALTHY") == "HEALTHY"


def _escape(name: str) -> str:
    return "".join("\\" + c if c in ".[]()*+?^$|\\{}" else c for c in name)
