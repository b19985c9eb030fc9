"""Handler modules import only what their INIT needs (a budget per handler); the first call loads the rest, as used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = sorted(path.parent.name for path in (ROOT / "functions").glob("*/app.py"))
PROBE = "import json, sys; before = set(sys.modules); import app; print(json.dumps(sorted(set(sys.modules) - before)))"


@dataclass(frozen=True)
class Budget:
    """What `import app` (Lambda's INIT) may load: no third-party package at all, only the named
    meshplane packages, and at most `modules` modules in all (the standard library's included).
    boto3, Powertools and the shapes are the first invocation's to load, and only as far as it uses them."""

    meshplane: frozenset[str]
    modules: int = 50  # the handlers load 32 to 35 today


PIPELINE = Budget(frozenset({"meshplane.pipeline"}))
BUDGETS = {
    "api": Budget(frozenset({"meshplane.api", "meshplane.pipeline"})),
    "cfn_macro": Budget(frozenset({"meshplane.migrate", "meshplane.pipeline"})),
    "cfn_provider": Budget(frozenset({"meshplane.migrate", "meshplane.pipeline"})),
    "cloudmap_events": PIPELINE,
    "ecs_events": PIPELINE,
    "recompute": PIPELINE,
    "recompute_shard": PIPELINE,
    "reconcile": PIPELINE,
    "rollout": Budget(frozenset({"meshplane.pipeline", "meshplane.envvars"})),  # envvars: names only, no import
}


def loaded_by_import(folder: Path) -> list[str]:
    """The modules `import app` adds, in a fresh interpreter laid out like Lambda's (function folder, then layer)."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_REGION": "us-east-1",
        "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT / "layers")]),
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=folder, env=env, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return list(json.loads(out))


def over_budget(loaded: list[str], budget: Budget) -> list[str]:
    """What `loaded` spends beyond `budget`, one line each; empty when within it."""
    modules = [m for m in loaded if m != "app"]
    third_party = sorted({m.split(".")[0] for m in modules} - set(sys.stdlib_module_names) - {"meshplane"})
    ours = sorted({".".join(m.split(".")[:2]) for m in modules if m.startswith("meshplane.")} - budget.meshplane)
    problems = [f"third-party package {name}" for name in third_party]
    problems += [f"package {name}" for name in ours]
    if len(modules) > budget.modules:
        problems.append(f"{len(modules)} modules, more than {budget.modules}")
    return problems


def test_every_handler_has_a_budget() -> None:
    assert sorted(BUDGETS) == FUNCTIONS


@pytest.mark.parametrize("function", FUNCTIONS)
def test_importing_a_handler_stays_within_its_budget(function: str) -> None:
    assert over_budget(loaded_by_import(ROOT / "functions" / function), BUDGETS[function]) == []


def test_the_budget_names_what_a_handler_overspends(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("import yaml, grpc\nimport meshplane.localnet.waiting\nimport email.mime.text\n")
    problems = over_budget(loaded_by_import(tmp_path), Budget(frozenset({"meshplane.pipeline"}), modules=40))
    assert {"third-party package grpc", "third-party package yaml", "package meshplane.localnet"} <= set(problems)
    assert problems[-1].endswith("modules, more than 40")


# ---- the first invocation --------------------------------------------------------------
SQS_EVENTS = {"ecs_events": "sqs_ecs_events_batch.json", "cloudmap_events": "sqs_cloudmap_events_batch.json"}
EVENTS = {**SQS_EVENTS, "api": "-"}  # "-": the bench's API Gateway ListMeshes event
FIRST_CALL = """
import gc, json, sys
sys.path.insert(0, sys.argv[3])
import coldstart_first_call as bench
from moto import mock_aws

event = bench.api_event() if sys.argv[2] == "-" else json.load(open(sys.argv[2]))
with mock_aws():
    bench.setup("meshplane-state", "meshplane-snapshots", "meshplane")
    import app

    result = app.handler(event, bench.Context())
    shape_modules = [m for m in sys.modules if m.startswith("meshplane.model.shapes.")]
    clients = [] if sys.argv[1] == "api" else sorted(vars(sys.modules["meshplane.pipeline.runtime"].current().clients))
    print(json.dumps({"result": result, "modules": sorted(sys.modules), "gc_enabled": gc.isenabled(),
                      "frozen": gc.get_freeze_count(), "clients": clients, "shape_modules": sorted(shape_modules)}))
"""


def first_invocation(function: str) -> dict[str, Any]:
    """`import app` and one call with the sample event, against moto, in a fresh interpreter laid out like Lambda's."""
    folder, event, bench = ROOT / "functions" / function, EVENTS[function], str(ROOT / "bench")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "MESHPLANE_TABLE": "meshplane-state",
        "MESHPLANE_BUCKET": "meshplane-snapshots",
        "MESHPLANE_BUS": "meshplane",
        "LOG_LEVEL": "WARNING",
        "POWERTOOLS_SERVICE_NAME": "meshplane",
        "POWERTOOLS_METRICS_NAMESPACE": "meshplane",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT / "layers")]),
    }
    proc = subprocess.run(
        [sys.executable, "-c", FIRST_CALL, function, event if event == "-" else str(ROOT / "events" / event), bench],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("function", sorted(SQS_EVENTS))
def test_an_endpoint_handler_never_loads_the_translator_protobuf_or_an_ec2_client(function: str) -> None:
    """They only write endpoints: the translator, its protos and the EC2 model are the publish path's cost."""
    run = first_invocation(function)
    assert run["result"] == {"batchItemFailures": []}
    assert "meshplane.pipeline.directory" in run["modules"]  # the call really loaded the meshes
    heavy = [
        m
        for m in run["modules"]
        if m.split(".")[0] in {"google", "envoy", "grpc"} or m.startswith(("meshplane.translate", "meshplane.snapshot"))
    ]
    assert heavy == []
    assert "aws_lambda_powertools.utilities.batch" in run["modules"]
    assert "aws_lambda_powertools.utilities.parser" not in run["modules"]  # its pydantic event models: unused
    assert "ec2" not in run["clients"]  # awsvpc tasks: the host lookup, EC2's only use, never runs
    assert run["gc_enabled"] and run["frozen"] > 0  # the first call ran with the collector paused, then froze


def test_only_the_first_call_runs_without_the_collector_and_its_garbage_cycles_are_still_reclaimed() -> None:
    """Paused once, frozen after, and a cycle dropped during that call is freed, not frozen for good."""
    import gc
    import weakref

    from meshplane.pipeline.coldstart import first_call_without_gc

    class Node:
        other: Any = None

    seen: list[bool] = []
    dropped: list[weakref.ref[Node]] = []

    def handler(event: Any, context: Any) -> int:
        seen.append(gc.isenabled())
        a, b = Node(), Node()
        a.other, b.other = b, a  # a reference cycle: only the collector can free it
        dropped.append(weakref.ref(a))
        return event

    wrapped = first_call_without_gc(handler)
    frozen = gc.get_freeze_count()
    try:
        assert wrapped(1, None) == 1
        assert gc.isenabled() and gc.get_freeze_count() > frozen
        assert dropped[0]() is None
        assert wrapped(2, None) == 2
    finally:
        gc.unfreeze()
    assert seen == [False, True]


def test_importing_the_shapes_builds_no_model_and_a_lookup_loads_only_the_module_of_its_kind() -> None:
    """The generated classes live in one module per resource kind, imported on the first lookup of one of them."""
    probe = (
        "import json, sys; from meshplane.model import shapes\n"
        "def loaded(): return sorted(m for m in sys.modules if m.startswith('meshplane.model.shapes.'))\n"
        "before = loaded(); shapes.HealthCheckPolicy; print(json.dumps([before, loaded()]))"
    )
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT / "layers")}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert json.loads(out) == [[], ["meshplane.model.shapes.common", "meshplane.model.shapes.virtual_node"]]


def test_the_api_first_call_loads_only_the_shapes_of_its_operations_kind() -> None:
    run = first_invocation("api")
    assert run["result"]["statusCode"] == 200
    assert run["shape_modules"] == ["meshplane.model.shapes.common", "meshplane.model.shapes.mesh"]
    assert run["gc_enabled"] and run["frozen"] > 0


XRAY_PROBE = """
import json, sys
import boto3, botocore.session
created = []
original = botocore.session.Session.create_client
def spy(self, name, *args, **kwargs):
    created.append(name)
    return original(self, name, *args, **kwargs)
botocore.session.Session.create_client = spy
from meshplane.pipeline.telemetry import Telemetry
Telemetry.from_env()
from aws_xray_sdk.core import xray_recorder
connector = xray_recorder.sampler._connector
deferred = type(connector._xray_client).__name__
before_use = list(created)
service = connector._xray_client.meta.service_model.service_name
print(json.dumps({"deferred": deferred, "before_use": before_use, "after_use": created, "service": service,
                  "patched_back": botocore.session.Session.create_client is spy}))
"""


def test_the_x_ray_sdks_sampling_client_is_built_on_first_use_not_during_the_tracers_set_up() -> None:
    env = {"PATH": os.environ.get("PATH", ""), "AWS_REGION": "us-east-1", "PYTHONPATH": str(ROOT / "layers")}
    out = subprocess.run([sys.executable, "-c", XRAY_PROBE], env=env, capture_output=True, text=True, check=True,
                         timeout=60).stdout  # fmt: skip
    probe = json.loads(out)
    assert probe["deferred"] == "ClientOnFirstUse"
    assert "xray" not in probe["before_use"], "no X-Ray client while the Tracer is set up"
    assert probe["after_use"].count("xray") == 1 and probe["service"] == "xray", "the real client, once it is used"
    assert probe["patched_back"], "botocore's create_client is left as it was found"
