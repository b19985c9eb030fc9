"""A sidecar started the way a user starts one: `meshplane bootstrap` renders its bootstrap from the
App Mesh image's environment variables, and meshplane's file agent writer lays out its translated config
(file mode, bound to the sidecar's own loopback address, as `meshplane agent --bind-address` does).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from delivery.harness import wait_live
from meshplane.delivery.agent import FileWriter
from meshplane.delivery.rewrite import to_files
from meshplane.model.ids import ProxyId
from meshplane.model.state import MeshState
from meshplane.snapshot.transform import bind_to
from meshplane.translate import translate
from support import Envoy, EnvoyRunner

MESHPLANE = str(Path(sys.executable).with_name("meshplane"))


def render(env: dict[str, str], *args: str) -> dict[str, Any]:
    """`meshplane bootstrap` with exactly `env` (plus PATH) and `args`; the bootstrap it printed."""
    result = subprocess.run([MESHPLANE, "bootstrap", *args], capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", **env}, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def start(
    runner: EnvoyRunner, state: MeshState, proxy: ProxyId, address: str, env: dict[str, str], workdir: Path
) -> tuple[Envoy, dict[str, Any]]:
    """Write `proxy`'s config files, bootstrap with `env`, start Envoy and wait until it serves; (envoy, bootstrap)."""
    files = workdir / "xds"
    FileWriter(files).write(to_files(bind_to(translate(state, proxy), address), files))
    defaults = {"APPMESH_VIRTUAL_NODE_NAME": proxy.path, "ENVOY_ADMIN_ACCESS_LOG_FILE": str(workdir / "admin.log")}
    bootstrap = render({**defaults, **env}, "--mode", "file", "--file-dir", str(files), "--bind-address", address,
                       "--admin-port", "0")  # fmt: skip
    envoy = runner.start(bootstrap, name=proxy.name, wait_ready=False)
    wait_live(envoy)
    return envoy, bootstrap
