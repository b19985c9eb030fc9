"""Run a real Envoy from a bootstrap (proto or dict) and talk to its admin API.

Envoy runs in its own process group (`start_new_session`) with the command line,
admin-address discovery and admin API shared with the demo (`meshplane.localnet`).
`stop()` kills the whole group; the `envoy_runner` fixture guarantees it runs.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from meshplane.localnet.envoy_process import (
    AdminApi,
    EnvoyError,
    await_admin_address,
    envoy_binary,
    envoy_command,
)
from meshplane.localnet.processes import stop_group
from meshplane.localnet.waiting import wait_until

__all__ = ["Envoy", "EnvoyError", "EnvoyRunner", "envoy_binary", "running_envoys", "validate"]


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


@dataclass
class Envoy(AdminApi):
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
        command = envoy_command(path, address_file, log_level=log_level, log_path=workdir / "envoy.log")
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
        stop_group(self.process)

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
        try:
            address = await_admin_address(address_file, lambda: self.running, timeout)
        except EnvoyError:
            raise self._fail(f"exited with {self.process.returncode} before opening its admin port") from None
        except TimeoutError as error:
            raise self._fail(str(error)) from None
        host, _, port = address.rpartition(":")
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

    @property
    def admin_url(self) -> str:
        return f"http://{self.admin_host}:{self.admin_port}"


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
