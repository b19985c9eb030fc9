"""Prune a built Lambda layer to what the handlers can import: `python prune_layer.py <layer>/python`.

Why: xds-protos ships about 1,700 generated modules and depends on grpcio, but
the handlers import a few hundred of those modules and never grpc (only the ADS
server, a container, does).  The Lambda runtime already ships boto3 and its
dependencies, which aws-xray-sdk pulls in again.  Run by `layers/Makefile`
(`sam build`, BuildMethod makefile); plain Python, so it runs on any host
whatever the wheels' platform.
"""

from __future__ import annotations

import ast
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path

RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "python_dateutil", "six")
NEVER_IMPORTED = ("grpc", "grpcio")  # only the ADS server (a container) uses gRPC
PROTO_DIST = "xds_protos"


def _dist_infos(site: Path, names: Iterable[str]) -> list[Path]:
    wanted = {n.lower().replace("-", "_") for n in names}
    return [p for p in site.glob("*.dist-info") if p.name.split("-")[0].lower().replace("-", "_") in wanted]


def remove_distributions(site: Path, names: Iterable[str]) -> None:
    """Delete whole installed distributions: their dist-info and every file its RECORD lists."""
    for info in _dist_infos(site, names):
        for line in (info / "RECORD").read_text().splitlines():
            path = site / line.split(",")[0]
            if path.is_file() and not path.is_relative_to(info):
                path.unlink()
        shutil.rmtree(info)


def imports_of(path: Path) -> set[str]:
    """Absolute module names a Python file imports, lazy imports included."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def proto_closure(site: Path, ours: Path, modules: dict[str, Path]) -> set[str]:
    """The generated modules our code imports, closed over their own imports."""
    todo = [m for f in ours.rglob("*.py") for m in imports_of(f) if m in modules]
    keep: set[str] = set()
    while todo:
        module = todo.pop()
        if module in keep:
            continue
        keep.add(module)
        todo.extend(m for m in imports_of(modules[module]) if m in modules)
    return keep


def prune_protos(site: Path, ours: Path) -> None:
    """Delete every module of xds-protos outside the closure (package `__init__` files stay)."""
    (info,) = _dist_infos(site, [PROTO_DIST])
    files = [site / line.split(",")[0] for line in (info / "RECORD").read_text().splitlines()]
    modules = {".".join(p.relative_to(site).with_suffix("").parts): p
               for p in files if p.suffix == ".py" and p.name != "__init__.py" and p.is_file()}
    keep = proto_closure(site, ours, modules)
    for module, path in modules.items():
        if module not in keep:
            path.unlink()
    for path in files:
        if path.suffix == ".pyi" and path.is_file():
            path.unlink()


def prune(site: Path) -> None:
    remove_distributions(site, RUNTIME_PROVIDED + NEVER_IMPORTED)
    prune_protos(site, site / "meshplane")
    for junk in [*site.rglob("__pycache__"), *site.glob("*.egg-info"), *site.rglob("py.typed")]:
        shutil.rmtree(junk) if junk.is_dir() else junk.unlink()
    for directory in sorted((p for p in site.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(directory.iterdir()):
            directory.rmdir()


if __name__ == "__main__":
    prune(Path(sys.argv[1]))
