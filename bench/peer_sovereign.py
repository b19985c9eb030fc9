"""sovereign, the peer Python control plane, set up to serve exactly meshplane's resources.

The bench environment (`.venv-bench`, from `bench/requirements.txt`) is created
on first use; sovereign never enters meshplane's own dependencies.  Its source
holds one instance per cluster carrying that cluster and its ClusterLoadAssignment
as JSON (converted from the very protos meshplane serves), and two Python
templates yield them: sovereign's cheapest rendering path, with node matching
and access logs off.  It runs either with one worker, as meshplane's ADS is one
process, or with the worker count of its default deployment: sovereign 0.32's
`SovereignAsgiConfig.workers` defaults to `multiprocessing.cpu_count() * 2 + 1`
gunicorn workers (`sovereign/schemas.py`), which `running(workers=None)` leaves
to sovereign itself and counts once they are up.

`python bench/peer_sovereign.py` makes the environment up front: `make test` runs
it, so the bench smoke test does not wait on pip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from common import BENCH, ROOT, free_port, process_group, wait_for_port

VENV = ROOT / ".venv-bench"
REQUIREMENTS = BENCH / "requirements.txt"


def ensure_venv() -> Path:
    """The bench virtualenv's `sovereign` executable, installing it when absent or stale."""
    stamp = VENV / ".bench-installed"
    if not stamp.exists() or stamp.read_text() != REQUIREMENTS.read_text():
        if not (VENV / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, timeout=300)
        subprocess.run([str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "-r", str(REQUIREMENTS)], check=True, timeout=600)
        stamp.write_text(REQUIREMENTS.read_text())
    return VENV / "bin" / "sovereign"


def instances(snapshot: object) -> list[dict[str, object]]:
    """One sovereign source instance per cluster: the cluster and its assignment as Envoy JSON."""
    from google.protobuf.json_format import MessageToDict
    from meshplane.snapshot.types import XdsType

    clusters = snapshot.of(XdsType.CLUSTERS)  # type: ignore[attr-defined]
    assignments = snapshot.of(XdsType.ENDPOINTS)  # type: ignore[attr-defined]
    out = []
    for name in sorted(assignments):
        out.append({
            "name": name,
            "cluster": MessageToDict(clusters[name], preserving_proto_field_name=True),
            "endpoints": MessageToDict(assignments[name], preserving_proto_field_name=True),
        })
    return out


def _config(workdir: Path, source: Path) -> Path:
    def template(kind: str) -> dict[str, object]:
        return {"type": kind, "spec": {"protocol": "python", "serialization": "raw",
                                       "path": str(BENCH / "sovereign" / f"{kind}.py")}}

    config = {
        "sources": [{"type": "file", "scope": "default", "config": {"path": f"file+json://{source}"}}],
        "templates": {"default": [template("clusters"), template("endpoints")]},
        "matching": {"enabled": False},
    }
    path = workdir / "sovereign.json"
    path.write_text(json.dumps(config))
    return path


@dataclass(frozen=True)
class Sovereign:
    port: int
    pid: int  # gunicorn's arbiter

    def workers(self) -> int:
        """The gunicorn worker processes running now."""
        return len(_children(self.pid))

    def pids(self) -> list[int]:
        """The arbiter and its workers."""
        return [self.pid, *_children(self.pid)]


def default_workers() -> int:
    """What sovereign's default deployment runs here: `multiprocessing.cpu_count() * 2 + 1`."""
    return (os.cpu_count() or 1) * 2 + 1


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (gunicorn's workers under its arbiter)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if fields[1] == str(pid):
            found.append(int(stat.parent.name))
    return found


@contextmanager
def running(workdir: Path, data: list[dict[str, object]], workers: int | None = 1) -> Iterator[Sovereign]:
    """A sovereign server on 127.0.0.1 serving `data` with `workers` (None: sovereign's default);
    yields where it runs, and stops it afterwards."""
    executable = ensure_venv()
    source = workdir / "instances.json"
    source.write_text(json.dumps(data))
    config = _config(workdir, source)
    port = free_port()
    env = {
        "PATH": f"{VENV / 'bin'}:/usr/bin:/bin",
        "SOVEREIGN_CONFIG": f"file+json://{config}",
        "SOVEREIGN_HOST": "127.0.0.1",
        "SOVEREIGN_PORT": str(port),
        "SOVEREIGN_ENABLE_ACCESS_LOGS": "false",
        "SOVEREIGN_SOURCES_REFRESH_RATE": "3600",
        **({} if workers is None else {"SOVEREIGN_WORKERS": str(workers)}),
    }
    log = (workdir / "sovereign.log").open("w")
    with process_group([str(executable)], env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT) as proc:
        wait_for_port("127.0.0.1", port, 120, proc)
        _wait_healthy(port, proc)
        yield Sovereign(port, proc.pid)
    log.close()


def _wait_healthy(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sovereign exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthcheck", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError("sovereign never became healthy")


if __name__ == "__main__":
    print(ensure_venv())
