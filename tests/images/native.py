"""Run the containers of an emitted task definition on this host, as ECS would run them in the sidecar image.

The image puts meshplane and Envoy on PATH (/opt/meshplane/bin) and the entrypoint at /usr/local/bin; here the venv
and the repository's copy of the entrypoint stand in for them, and a directory of each container's own stands in for
its private /tmp (the bootstrap and the admin address file). Everything else is the container definition's own: its
entryPoint, command and environment, and its health check run with `sh -c` as ECS runs CMD-SHELL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshplane.bootstrap.command import ENTRYPOINT
from meshplane.localnet.processes import stop_group

REPO = Path(__file__).resolve().parents[2]
IMAGE_DIR = REPO / "envoy_bootstrap" / "image"
BIN = Path(sys.executable).parent
MESHPLANE = str(BIN / "meshplane")


def emit(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """`meshplane bootstrap --emit task-definition ...`, parsed; fails the test on a non-zero exit."""
    result = subprocess.run([MESHPLANE, "bootstrap", "--emit", "task-definition", *args], capture_output=True,
                            text=True, timeout=60, check=False, env=env or {})  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def container(document: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [c for c in document["containerDefinitions"] if c["name"] == name]
    return found  # type: ignore[no-any-return]


def environment(definition: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in definition.get("environment", [])}


@dataclass
class NativeContainer:
    """One container definition as a local process group; `extra` adds what the task would get from ECS."""

    definition: dict[str, Any]
    workdir: Path
    extra: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        private = self.workdir / self.definition["name"]
        return {"PATH": f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
                "MESHPLANE_BOOTSTRAP_PATH": str(private / "envoy-bootstrap.json"),
                "MESHPLANE_ADMIN_ADDRESS_PATH": str(private / "envoy-admin-address"),
                **environment(self.definition), **self.extra}  # fmt: skip

    @property
    def argv(self) -> list[str]:
        entry = [str(IMAGE_DIR / "meshplane-envoy") if word == ENTRYPOINT else word
                 for word in self.definition["entryPoint"]]  # fmt: skip
        return [*entry, *self.definition.get("command", [])]

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.definition['name']}.log"

    def start(self) -> NativeContainer:
        (self.workdir / self.definition["name"]).mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(self.argv, env=self.env, stdout=sink, stderr=subprocess.STDOUT,
                                            start_new_session=True)  # fmt: skip
        return self

    def healthy(self) -> bool:
        """The definition's health check, run as ECS runs CMD-SHELL; fails at once if the process has exited."""
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"{self.definition['name']} exited with {self.process.returncode}:\n"
                                 f"{self.log.read_text()[-3000:]}")  # fmt: skip
        kind, shell = self.definition["healthCheck"]["command"]
        assert kind == "CMD-SHELL"
        return subprocess.run(["sh", "-c", shell], env=self.env, capture_output=True, timeout=10,
                              check=False).returncode == 0  # fmt: skip

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process)
