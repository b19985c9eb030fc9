"""Lambda cold start: handler import + init time in a fresh process, and the deployment package size.

Each `functions/<name>/app.py` is imported the way the Lambda Python runtime
does it (function folder first on the path, then the layer), in a fresh
interpreter under `-X importtime`; the cumulative time of the `app` module is
what INIT spends on our code and its imports.  Median of N runs.

Because the handlers defer boto3, Powertools and the shapes to first use, INIT alone
flatters them: `coldstart_first_call.py` also times import + the FIRST invocation
with a real-shaped event from `events/` against in-process moto, in a fresh process.
The account holds the small published mesh those events name (`coldstart_world.py`,
built once per run by meshplane's own code and loaded with plain boto3 before the
clock starts), so each first call takes the path it takes in production: the
recompute translates and publishes, the ECS and Cloud Map handlers map to a node.
moto's own import (which loads boto3 and botocore) is timed apart and left out, so
that number lacks the boto3 import a real cold start pays; the fresh-process
`import boto3` time is measured and reported beside it.  What moto and the set-up
leave on the heap is frozen before the clock starts (`--freeze-setup`): Lambda has
no moto heap for the garbage collector to walk.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import layer
from common import ROOT, NotLanded, Profile, Suite, median
from targets import COLDSTART_MS, PACKAGE_MB

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


FIRST_CALL_EVENTS = {  # "-": the script builds an API Gateway ListMeshes event (events/ has no API sample)
    "api": "-",
    "ecs_events": "sqs_ecs_events_batch.json",
    "cloudmap_events": "sqs_cloudmap_events_batch.json",
    "recompute": "dynamodb_stream_batch.json",
    "recompute_shard": "sqs_recompute_shard_batch.json",
    "reconcile": "scheduled_event.json",
    "rollout": "scheduled_event.json",
    "cfn_macro": "cfn_macro_request.json",
    "cfn_provider": "cfn_provider_create.json",
}
FIRST_CALL_SCRIPT = Path(__file__).resolve().parent / "coldstart_first_call.py"
WORLD_SCRIPT = Path(__file__).resolve().parent / "coldstart_world.py"


def functions() -> list[Path]:
    return sorted(p.parent for p in (ROOT / "functions").glob("*/app.py"))


def import_ms(function_dir: Path) -> float:
    """Cumulative import time of the handler module `app` in a fresh interpreter, in ms."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **LAMBDA_ENV,
           "PYTHONPATH": os.pathsep.join([str(function_dir.resolve()), str(ROOT / "layers")])}
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import app"], cwd=function_dir, env=env,
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"{function_dir.name}: import failed: {proc.stderr.strip().splitlines()[-1:]}")
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and line.rsplit("|", 1)[-1].strip() == "app":
            return int(line.split("|")[1]) / 1000.0
    raise RuntimeError(f"{function_dir.name}: no importtime line for app")


def _lambda_env(function_dir: Path) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **LAMBDA_ENV,
            "PYTHONPATH": os.pathsep.join([str(function_dir.resolve()), str(ROOT / "layers")])}


def _first_call_env(function_dir: Path) -> dict[str, str]:
    return {**_lambda_env(function_dir), "POWERTOOLS_TRACE_DISABLED": "true", "LOG_LEVEL": "WARNING"}


@contextmanager
def built_world() -> Iterator[dict[str, Path]]:
    """The states `coldstart_world.py` builds (by name), in a folder removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="meshplane-coldstart-world-") as folder:
        env = _first_call_env(ROOT / "layers")
        proc = subprocess.run([sys.executable, str(WORLD_SCRIPT), folder], cwd=folder, env=env,
                              capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"building the cold-start world failed: {proc.stderr.strip().splitlines()[-3:]}")
        yield {state: Path(path) for state, path in json.loads(proc.stdout.strip().splitlines()[-1]).items()}


def first_call(function_dir: Path, world: dict[str, Path] | None = None) -> dict[str, float]:
    """Import + first invocation of the handler in a fresh interpreter with in-process moto (ms), in the account
    `world` holds (`coldstart_world.WORLDS` says which state each handler's event arrives in)."""
    from coldstart_world import WORLDS

    name = function_dir.name
    event = FIRST_CALL_EVENTS[name]
    seeded = ["--world", str(world[WORLDS[name]])] if world is not None else []
    proc = subprocess.run([sys.executable, str(FIRST_CALL_SCRIPT), name,
                           event if event == "-" else str(ROOT / "events" / event), *seeded, "--freeze-setup"],
                          cwd=function_dir, env=_first_call_env(function_dir), capture_output=True, text=True,
                          timeout=120)
    lines = [line for line in proc.stdout.splitlines() if line.startswith('{"function"')]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{name}: first call failed: {proc.stderr.strip().splitlines()[-3:]}")
    result = json.loads(lines[-1])
    if result["failed"]:
        raise RuntimeError(f"{name}: the first invocation reported a failure: {proc.stdout[-2000:]}")
    return result


# A fresh `import boto3` is timed in an interpreter holding what Lambda's runtime holds: the standard library
# and the packages it ships (`layers/prune_layer.py`'s RUNTIME_PROVIDED).  What boto3 loads only when present
# (awscrt's CRT, pyOpenSSL and cryptography, which this machine's venv has for the tests and tools) raises
# ImportError there, as in Lambda, instead of adding its import time (about 40 % of it, measured here).
LAMBDA_RUNTIME_PRELUDE = """
import sys
from importlib.abc import MetaPathFinder

shipped = set(sys.stdlib_module_names) | set(sys.argv[1].split(","))


class NotInLambda(MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.partition(".")[0] not in shipped:
            raise ImportError(f"{name} is not in the Lambda runtime", name=name)
        return None


sys.meta_path.insert(0, NotInLambda())
"""


def in_lambda_runtime(code: str) -> list[str]:
    """The command that runs `code` (under `-X importtime`) where only what Lambda's runtime ships is importable."""
    return [sys.executable, "-X", "importtime", "-c", LAMBDA_RUNTIME_PRELUDE + code, ",".join(layer.runtime_provided())]


def boto3_import_ms() -> float:
    """Cumulative `import boto3` in a fresh interpreter holding what Lambda's runtime holds: what moto's preload
    hides from `first_call`."""
    proc = subprocess.run(in_lambda_runtime("import boto3"), capture_output=True, text=True, timeout=60,
                          env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and line.rsplit("|", 1)[-1].strip() == "boto3":
            return int(line.split("|")[1]) / 1000.0
    raise RuntimeError("no importtime line for boto3")


def top_imports(function_dir: Path, count: int = 8) -> list[dict[str, object]]:
    """The heaviest direct imports of the handler (by cumulative time): the profile behind a miss."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **LAMBDA_ENV,
           "PYTHONPATH": os.pathsep.join([str(function_dir.resolve()), str(ROOT / "layers")])}
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
        suite.add(f"{d.name}: import+init (median of {repeats})", value, "ms", target=COLDSTART_MS,
                  note=f"min {min(samples):.0f}, max {max(samples):.0f}")
        if worst is None or value > worst[1]:
            worst = (d, value)
    # a fresh interpreter with moto per sample: --quick takes few, and the smoke test's one sample is its only call
    _first_calls(suite, dirs, profile.pick(10, 3, 1), warm=profile.pick(True, True, False))
    if worst is not None:
        suite.tables[f"heaviest imports of {worst[0].name} (-X importtime, one run)"] = top_imports(worst[0])
    _package(suite, profile)
    return suite


def _first_calls(suite: Suite, dirs: list[Path], repeats: int, warm: bool = True) -> None:
    """Import + first invocation of each handler, `repeats` fresh processes each.  With `warm`, one unrecorded
    call first, so every sample finds the bytecode compiled; the smoke test, which compares no number, skips it."""
    boto3_ms = median([boto3_import_ms() for _ in range(repeats)])
    suite.add(f"import boto3 in a fresh process (median of {repeats})", boto3_ms, "ms",
              note="only what Lambda's runtime ships importable; preloaded by moto in the first-call rows, "
                   "so not in them")
    rows = []
    with built_world() as world:
        for d in dirs:
            if warm:
                first_call(d, world)  # bytecode compiled, like the import rows
            samples = [first_call(d, world) for _ in range(repeats)]
            rows.append(_first_call_row(suite, d, samples, repeats, boto3_ms))
    suite.tables[f"import + first invocation against in-process moto (median of {repeats})"] = rows


def _first_call_row(suite: Suite, d: Path, samples: list[dict[str, float]], repeats: int,
                    boto3_ms: float) -> dict[str, object]:
    """The handler's metric (median of the samples) added to `suite`, and its row of the first-call table."""
    total = median([s["total_ms"] for s in samples])
    imported, called = median([s["import_ms"] for s in samples]), median([s["first_call_ms"] for s in samples])
    suite.add(f"{d.name}: import + first invocation, moto import excluded (median of {repeats})", total, "ms",
              note=f"import {imported:.0f} + first call {called:.0f}; with boto3 import ~{total + boto3_ms:.0f}")
    return {"function": d.name, "event": FIRST_CALL_EVENTS[d.name], "import ms": imported, "first call ms": called,
            "import + first call ms": total, "+ boto3 import ms": total + boto3_ms,
            "moto import ms (excluded)": median([s["moto_import_ms"] for s in samples])}


def _package(suite: Suite, profile: Profile) -> None:
    """The deployment package as `sam build` makes it: the pruned layer (layers/Makefile) + the function folders."""
    functions_bytes, functions_zip = layer.sizes(layer.function_files(), ROOT)
    suite.add("function code (functions/), zipped", functions_zip / 1e6, "MB")
    if profile.name == "tiny":
        return  # the smoke test does not download the Lambda wheels
    with layer.built_layer() as built:
        files = layer.files_under(built)
        unzipped, zipped = layer.sizes(files, built.parent)
        by_top: dict[str, int] = {}
        for path in files:
            top = path.relative_to(built).parts[0]
            by_top[top] = by_top.get(top, 0) + path.stat().st_size
    suite.add("layer as `sam build` makes it (pruned, boto3 excluded), unzipped", unzipped / 1e6, "MB")
    suite.add("package: our code + layer, zipped", (zipped + functions_zip) / 1e6, "MB", target=PACKAGE_MB)
    suite.add("package: our code + layer, unzipped", (unzipped + functions_bytes) / 1e6, "MB", target=PACKAGE_MB)
    suite.tables["layer contents by top-level folder (unzipped, largest 10)"] = [
        {"folder": k, "MB": v / 1e6} for k, v in sorted(by_top.items(), key=lambda kv: -kv[1])[:10]
    ]
