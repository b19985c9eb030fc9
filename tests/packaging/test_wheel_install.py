"""The built wheel, installed plain into a fresh venv, runs the ADS and proxy commands; local and demo need an extra.

The wheel is built from a copy of what the container images copy too (pyproject.toml,
README.md, layers/meshplane), so nothing left in the work tree (a `build/` folder, caches,
the console's node_modules) reaches it.  pip resolves the dependencies as a user's pip
would; its cache keeps that quick.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "node_modules", "*.egg-info")
PIP = ("-m", "pip", "--disable-pip-version-check")
pytestmark = pytest.mark.xdist_group("wheel-install")  # one build and install for the module


def _run(argv: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """(the fresh venv's bin folder, an environment without AWS or App Mesh settings) after `pip install <wheel>`."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(REPO / "layers" / "meshplane", source / "layers" / "meshplane", ignore=IGNORED)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "APPMESH_", "MESHPLANE_", "ENVOY_"))}
    env.pop("PYTHONPATH", None)
    built = _run([sys.executable, *PIP, "wheel", "--no-deps", "--wheel-dir", str(root / "dist"), str(source)],
                 cwd=root, env=env)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel,) = (root / "dist").glob("meshplane-*.whl")
    venv = root / "venv"  # without a pip of its own: this venv's pip installs into it (`--python`)
    created = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=root, env=env)
    assert created.returncode == 0, created.stderr
    bin_dir = venv / "bin"
    install = _run([sys.executable, *PIP, "--python", str(bin_dir / "python"), "install", "--no-compile", str(wheel)],
                   cwd=root, env=env)
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    return bin_dir, env


def _meshplane(installed: tuple[Path, dict[str, str]], *args: str) -> subprocess.CompletedProcess[str]:
    bin_dir, env = installed
    return _run([str(bin_dir / "meshplane"), *args], cwd=bin_dir.parent, env=env, timeout=120)


def test_the_plain_install_has_no_developer_tools_dependency(installed: tuple[Path, dict[str, str]]) -> None:
    bin_dir, env = installed
    modules = ("moto", "samtranslator", "aws_xray_sdk", "rich", "trustme")
    probe = f"import importlib.util as u; print([m for m in {modules!r} if u.find_spec(m)])"
    result = _run([str(bin_dir / "python"), "-c", probe], cwd=bin_dir, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("command", ["bootstrap", "ads", "agent"])
def test_the_ads_and_proxy_commands_answer_help(installed: tuple[Path, dict[str, str]], command: str) -> None:
    result = _meshplane(installed, command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: meshplane {command}")


def test_bootstrap_renders_a_node_bootstrap_from_the_installed_wheel(installed: tuple[Path, dict[str, str]]) -> None:
    result = _meshplane(installed, "bootstrap", "--node-id", "mesh/shop/virtualNode/front",
                        "--ads-address", "127.0.0.1:18000")
    assert result.returncode == 0, result.stderr
    bootstrap = json.loads(result.stdout)
    assert bootstrap["node"]["id"] == "mesh/shop/virtualNode/front"
    ads = bootstrap["dynamic_resources"]["ads_config"]["grpc_services"][0]["envoy_grpc"]["cluster_name"]
    cluster = next(c for c in bootstrap["static_resources"]["clusters"] if c["name"] == ads)
    endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
    assert (endpoint["address"], endpoint["port_value"]) == ("127.0.0.1", 18000)


@pytest.mark.parametrize("command", [["local", "up"], ["demo"]])
def test_local_up_and_demo_name_the_extra_in_one_line(
    installed: tuple[Path, dict[str, str]], command: list[str]
) -> None:
    result = _meshplane(installed, *command)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"meshplane {' '.join(command)}: needs the 'local' extra, which adds moto")
    assert lines[0].endswith("pip install 'meshplane[local]'")
    assert result.stdout == ""


def test_the_console_page_ships_in_the_wheel(installed: tuple[Path, dict[str, str]]) -> None:
    """Package data: `meshplane console` serves its built page from the installed package, not from a checkout."""
    bin_dir, env = installed
    probe = "from meshplane.console.static import STATIC_DIR; print(sorted(p.name for p in STATIC_DIR.iterdir()))"
    result = _run([str(bin_dir / "python"), "-c", probe], cwd=bin_dir, env=env)
    assert result.returncode == 0, result.stderr
    assert {"index.html", "app.js", "app.css"} <= set(json.loads(result.stdout.replace("'", '"')))
