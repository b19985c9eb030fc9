"""Lambda cold start: handler import + init time in a fresh process, and the deployment package size.

Each `functions/<name>/app.py` is imported the way the Lambda Python runtime
does it (function folder first on the path, then the layer), in a fresh
interpreter under `-X importtime`; the cumulative time of the `app` module is
what INIT spends on our code and its imports.  Median of N runs.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
from pathlib import Path

import layer
from common import ROOT, NotLanded, Profile, Suite, median

TARGET_MS = 300.0
TARGET_MB = 10.0
LAMBDA_ENV = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_LAMBDA_FUNCTION_NAME": "bench",
    "MESHPLANE_TABLE": "meshplane-state",
    "MESHPLANE_BUCKET": "meshplane-snapshots",
    "MESHPLANE_BUS": "meshplane",
    "POWERTOOLS_SERVICE_NAME": "meshplane",
    "POWERTOOLS_METRICS_NAMESPACE": "meshplane",
}


def functions() -> list[Path]:
    return sorted(p.parent for p in (ROOT / "functions").glob("*/app.py"))


def import_ms(function_dir: Path) -> float:
    """Cumulative import time of the handler module `app` in a fresh interpreter, in ms."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **LAMBDA_ENV,
           "PYTHONPATH": os.pathsep.join([str(function_dir), str(ROOT / "layers")])}
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import app"], cwd=function_dir, env=env,
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"{function_dir.name}: import failed: {proc.stderr.strip().splitlines()[-1:]}")
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and line.rsplit("|", 1)[-1].strip() == "app":
            return int(line.split("|")[1]) / 1000.0
    raise RuntimeError(f"{function_dir.name}: no importtime line for app")


def top_imports(function_dir: Path, count: int = 8) -> list[dict[str, object]]:
    """The heaviest direct imports of the handler (by cumulative time): the profile behind a miss."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **LAMBDA_ENV,
           "PYTHONPATH": os.pathsep.join([str(function_dir), str(ROOT / "layers")])}
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import app"], cwd=function_dir, env=env,
                          capture_output=True, text=True, timeout=120)
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self, cumulative, name = line[len("import time:"):].split("|")
        depth = (len(name) - len(name.lstrip())) // 2
        if depth <= 2:
            rows.append({"module": name.strip(), "cumulative ms": int(cumulative) / 1000.0, "depth": depth})
    rows.sort(key=lambda r: -float(r["cumulative ms"]))  # type: ignore[arg-type]
    return rows[:count]


def run(profile: Profile) -> Suite:
    suite = Suite("coldstart")
    dirs = functions()
    if not dirs:
        raise NotLanded("no functions/<name>/app.py in the tree")
    repeats = profile.pick(10, 10, 1)
    if profile.name == "tiny":
        dirs = dirs[:1]  # the smoke test only proves the measurement works
    for d in dirs:  # compile the bytecode once, so every sample measures the same thing
        import_ms(d)
    worst = None
    for d in dirs:
        samples = [import_ms(d) for _ in range(repeats)]
        value = median(samples)
        suite.add(f"{d.name}: import+init (median of {repeats})", value, "ms", target=TARGET_MS,
                  note=f"min {min(samples):.0f}, max {max(samples):.0f}")
        if worst is None or value > worst[1]:
            worst = (d, value)
    if worst is not None:
        suite.tables[f"heaviest imports of {worst[0].name} (-X importtime, one run)"] = top_imports(worst[0])
    _package(suite, profile)
    return suite


def _package(suite: Suite, profile: Profile) -> None:
    ours = layer.our_code_files()
    ours_bytes, ours_zip = layer.sizes(ours, {ROOT: ROOT})
    suite.add("our code (layers/meshplane + functions), zipped", ours_zip / 1e6, "MB")
    if profile.name == "tiny":
        return  # the smoke test does not download the Lambda wheels
    built = layer.build_layer()
    files = layer.package_files(built)
    unzipped, zipped = layer.sizes(files, {built: built})
    total_zip = (zipped + ours_zip) / 1e6
    suite.add("layer third-party (python3.12 arm64, boto3 excluded), unzipped", unzipped / 1e6, "MB")
    suite.add("package: our code + layer, zipped", total_zip, "MB", target=TARGET_MB)
    suite.add("package: our code + layer, unzipped", (unzipped + ours_bytes) / 1e6, "MB", target=TARGET_MB)
    by_top: dict[str, int] = {}
    for path in files:
        top = path.relative_to(built).parts[0]
        by_top[top] = by_top.get(top, 0) + path.stat().st_size
    suite.tables["layer contents by top-level folder (unzipped, largest 10)"] = [
        {"folder": k, "MB": v / 1e6} for k, v in sorted(by_top.items(), key=lambda kv: -kv[1])[:10]
    ]
    used = layer.proto_imports_in_source([ROOT / "layers" / "meshplane", ROOT / "functions"])
    site_packages = Path(site.getsitepackages()[0])
    closure = layer.proto_modules_of(layer.imported_files(sorted(used), [str(ROOT / "layers")]), site_packages)
    kept = layer.pruned(files, built, closure)
    p_unzipped, p_zipped = layer.sizes(kept, {built: built})
    handler_files = set()
    for d in functions():
        handler_files |= layer.imported_files(["app"], [str(d), str(ROOT / "layers")])
    grpc_used = any(part in ("grpc", "grpcio") for f in handler_files for part in f.parts)
    lean = [f for f in kept if f.relative_to(built).parts[0].split("-")[0] not in ("grpc", "grpcio")]
    l_unzipped, l_zipped = layer.sizes(lean, {built: built})
    suite.add("pruned package: only imported proto modules, zipped", (p_zipped + ours_zip) / 1e6, "MB",
              target=TARGET_MB, note=f"{len(closure)} proto modules kept of "
              f"{sum(1 for f in files if f.relative_to(built).parts[0] in layer.PROTO_PACKAGES)} proto files")
    suite.add("pruned package: only imported proto modules, unzipped", (p_unzipped + ours_bytes) / 1e6, "MB",
              target=TARGET_MB)
    suite.add("pruned + without grpcio, zipped", (l_zipped + ours_zip) / 1e6, "MB", target=TARGET_MB,
              note=f"handlers import grpc: {grpc_used}")
    suite.add("pruned + without grpcio, unzipped", (l_unzipped + ours_bytes) / 1e6, "MB", target=TARGET_MB)
