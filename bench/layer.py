"""What the Lambda deployment package really contains, and what a pruned layer would.

The layer is built the way `sam build` would for the template's runtime
(python3.12, arm64): `pip install --target` of `layers/requirements.txt` with
manylinux aarch64 wheels, minus what the Lambda runtime already ships (boto3 and
its dependencies).  The pruned variant keeps only the generated proto modules
that the handlers and the translator actually import, found by importing them
in a fresh process and reading `sys.modules`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from common import ROOT

RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six")
PROTO_PACKAGES = ("envoy", "xds", "udpa", "validate", "opencensus", "opentelemetry", "contrib")
CACHE = ROOT / ".venv-bench" / "layer-cache"


def build_layer(python_version: str = "3.12", platform: str = "manylinux2014_aarch64") -> Path:
    """Install the layer's requirements for the Lambda platform into a cached folder."""
    requirements = (ROOT / "layers" / "requirements.txt").read_text()
    key = hashlib.sha256(f"{requirements}{python_version}{platform}".encode()).hexdigest()[:12]
    target = CACHE / key / "python"
    if (target.parent / ".complete").exists():
        return target
    shutil.rmtree(target.parent, ignore_errors=True)
    target.mkdir(parents=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target", str(target),
         "--platform", platform, "--python-version", python_version, "--implementation", "cp",
         "--only-binary=:all:", "-r", str(ROOT / "layers" / "requirements.txt")],
        check=True, capture_output=True, timeout=600,
    )
    (target.parent / ".complete").touch()
    return target


def _runtime_provided(rel: Path) -> bool:
    top = rel.parts[0]
    base = top.split("-")[0].split(".")[0]
    return base in RUNTIME_PROVIDED


def package_files(layer: Path) -> list[Path]:
    """Every file of the layer the function would carry, with runtime-provided packages left out."""
    files = [p for p in layer.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    return [p for p in files if not _runtime_provided(p.relative_to(layer))]


def our_code_files() -> list[Path]:
    roots = [ROOT / "layers" / "meshplane", ROOT / "functions"]
    return [p for r in roots if r.exists() for p in r.rglob("*") if p.is_file() and "__pycache__" not in p.parts]


def sizes(files: list[Path], base_for: dict[Path, Path]) -> tuple[int, int]:
    """(unzipped bytes, zipped bytes) of `files`, zipped with deflate like `sam build` artifacts."""
    unzipped = sum(p.stat().st_size for p in files)
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "package.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in files:
                base = next(b for b in base_for if path.is_relative_to(b))
                zf.write(path, str(path.relative_to(base_for[base])))
        zipped = archive.stat().st_size
    return unzipped, zipped


_PROBE = r"""
import importlib, json, sys
sys.path[:0] = {paths!r}
for mod in {modules!r}:
    importlib.import_module(mod)
print(json.dumps(sorted({{m.__file__ for m in list(sys.modules.values()) if getattr(m, "__file__", None)}})))
"""


def proto_imports_in_source(roots: list[Path]) -> set[str]:
    """Every proto module our code imports anywhere (lazy imports included), found by parsing it."""
    import ast

    found: set[str] = set()
    for root in roots:
        for path in root.rglob("*.py") if root.exists() else ():
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                found.update(n for n in names if n.split(".")[0] in PROTO_PACKAGES)
    return found


def imported_files(modules: list[str], paths: list[str]) -> set[Path]:
    """The files a fresh interpreter loads when importing `modules`: their whole import closure."""
    code = _PROBE.format(paths=paths, modules=sorted(modules))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300,
                         cwd=ROOT, env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1"})
    return {Path(f).resolve() for f in json.loads(out.stdout.strip().splitlines()[-1])}


def pruned(files: list[Path], layer: Path, used_proto_modules: set[str]) -> list[Path]:
    """The layer with every proto package file dropped unless its module is used (package inits kept)."""
    kept = []
    for path in files:
        rel = path.relative_to(layer)
        if rel.parts[0] not in PROTO_PACKAGES:
            kept.append(path)
            continue
        module = ".".join(rel.with_suffix("").parts)
        if module in used_proto_modules or path.name == "__init__.py":
            kept.append(path)
    return kept


def proto_modules_of(files: set[Path], site: Path) -> set[str]:
    """Dotted names of the proto modules among `files` that live under `site`."""
    out = set()
    for path in files:
        if path.is_relative_to(site):
            rel = path.relative_to(site)
            if rel.parts and rel.parts[0] in PROTO_PACKAGES:
                out.add(".".join(rel.with_suffix("").parts))
    return out
