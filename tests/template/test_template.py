"""template.yaml lints, validates and builds offline, and deploys on the emulator with least-privilege roles."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from meshplane.local.harness import LocalStack

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
BIN = Path(sys.executable).parent
PYTHON312 = Path("/root/.pyenv/versions/3.12.1/bin")
FUNCTION_ROLES = ("ApiFunctionRole", "EcsEventsFunctionRole", "CloudMapEventsFunctionRole",
                  "RecomputeFunctionRole", "ReconcileFunctionRole", "CfnProviderFunctionRole", "CfnMacroFunctionRole",
                  "RolloutFunctionRole")
FUNCTION_DIRS = ("ApiFunction", "EcsEventsFunction", "CloudMapEventsFunction", "RecomputeFunction",
                 "ReconcileFunction", "CfnProviderFunction", "CfnMacroFunction")
# Layer + function code, sum of file sizes: the package target of bench/targets.py (10 MB).
PACKAGE_UNZIPPED_LIMIT = 10_000_000
# Actions whose service has no resource-level permissions: the only ones allowed on "*".
STAR_RESOURCE_ACTIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "cloudwatch:PutMetricData",  # only with a cloudwatch:namespace condition
    "servicediscovery:DiscoverInstances",
    "servicediscovery:ListOperations",  # the reconcile: which services changed since its last pass
    "servicediscovery:GetOperation",
    "ecs:DescribeTaskDefinition",
    "ec2:DescribeInstances",
    "ecs:ListTasks",  # authorised on container instances; scoped by an ecs:cluster condition when the cluster is set
    "cloudwatch:GetMetricData",  # the rollout controller's metrics: no resource-level permissions
}


def _offline_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               SAM_CLI_TELEMETRY="0", PATH=f"{PYTHON312}:{BIN}:{env.get('PATH', '')}")
    return env


def _run(*argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=REPO, env=_offline_env(), capture_output=True, text=True, timeout=timeout)


def test_cfn_lint_passes() -> None:
    result = _run(str(BIN / "cfn-lint"), str(TEMPLATE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_validate_lint_passes() -> None:
    result = _run(str(BIN / "sam"), "validate", "--lint", "--template", str(TEMPLATE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_build_succeeds_without_docker(tmp_path: Path, prune_layer: ModuleType) -> None:
    build_dir = tmp_path / "build"
    result = _run(str(BIN / "sam"), "build", "--template", str(TEMPLATE), "--build-dir", str(build_dir),
                  "--cache-dir", str(tmp_path / "cache"), timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    built = (build_dir / "template.yaml").read_text()
    for function in FUNCTION_DIRS:
        assert (build_dir / function / "app.py").is_file()
        assert function in built
    layer_dirs = [p for p in build_dir.iterdir() if p.name.startswith("MeshplaneLayer")]
    assert layer_dirs and (layer_dirs[0] / "python" / "meshplane" / "__init__.py").is_file()
    assert (layer_dirs[0] / "python" / "pydantic").is_dir()
    _assert_layer_is_pruned_but_complete(layer_dirs[0] / "python", build_dir, prune_layer)


_PROTO_PROBE = """
import importlib, json, pkgutil, sys
import meshplane.pipeline, meshplane.translate, meshplane.snapshot.consistency
for info in pkgutil.iter_modules(meshplane.pipeline.__path__, "meshplane.pipeline."):
    importlib.import_module(info.name)
tops = {"envoy", "xds", "udpa", "validate", "cel"}
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in tops)))
"""


def _layer_pins() -> dict[str, str]:
    """layers/requirements.txt's `name==version` lines, names normalised as installers spell them."""
    lines = (line.split("#")[0].strip() for line in (REPO / "layers" / "requirements.txt").read_text().splitlines())
    pins = dict(line.split("==") for line in lines if line)
    return {name.lower().replace("_", "-"): version for name, version in pins.items()}


def test_every_layer_requirement_is_pinned_and_the_tests_run_those_versions() -> None:
    """The layer ships what the suite ran: `make venv` installs with the pins as its constraints."""
    from importlib.metadata import version

    text = [line.split("#")[0].strip() for line in (REPO / "layers" / "requirements.txt").read_text().splitlines()]
    assert all("==" in line for line in text if line), text
    pins = _layer_pins()
    assert {"pydantic", "pydantic-core", "protobuf", "xds-protos", "aws-lambda-powertools"} <= pins.keys()
    assert {name: version(name) for name in pins} == pins


def _assert_layer_is_pruned_but_complete(layer: Path, build_dir: Path, prune_layer: ModuleType) -> None:
    """The built wheels are aarch64, so the layer cannot be imported here: check its files instead.

    Every generated proto module that the translator and the pipeline load (measured
    here, in this interpreter) must be in the layer; grpc, PyYAML, the boto3 family and
    everything else prune_layer.py names must not (test_layer_pruning.py shows the
    handlers run without them).
    """
    import zipfile

    tops = {p.name for p in layer.iterdir()}
    shipped = dict(p.name.removesuffix(".dist-info").rsplit("-", 1) for p in layer.glob("*.dist-info"))
    assert {name.lower().replace("_", "-"): v for name, v in shipped.items()} == _layer_pins()
    assert not tops & {"grpc", "boto3", "botocore", "s3transfer", "yaml", "_yaml"}, sorted(tops)
    left = [m for m in prune_layer.BLOCKED if prune_layer.module_paths(layer, m)]
    assert left == []
    assert not [p for p in layer.rglob("*") if p.suffix in prune_layer.JUNK_SUFFIXES or p.name == "RECORD"]
    probe = subprocess.run([sys.executable, "-c", _PROTO_PROBE], capture_output=True, text=True, check=True,
                           cwd=REPO, timeout=120, env={"PATH": os.environ.get("PATH", ""), "AWS_REGION": "us-east-1"})
    needed = json.loads(probe.stdout)
    assert "envoy.config.cluster.v3.cluster_pb2" in needed
    missing = [m for m in needed if not (layer / Path(*m.split("."))).with_suffix(".py").is_file()
               and not (layer / Path(*m.split(".")) / "__init__.py").is_file()]
    assert missing == []
    assert (layer / "meshplane" / "translate" / "__init__.py").is_file()
    assert (layer / "aws_lambda_powertools" / "utilities" / "idempotency" / "__init__.py").is_file()
    assert len(list((layer / "envoy").rglob("*_pb2.py"))) < 1000  # pruned: xds-protos ships about 1,700
    roots = [layer.parent, *(build_dir / f for f in FUNCTION_DIRS)]
    files = {path: root for root in roots for path in root.rglob("*") if path.is_file()}
    assert sum(path.stat().st_size for path in files) <= PACKAGE_UNZIPPED_LIMIT
    archive = build_dir.parent / "package.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, root in files.items():
            zf.write(path, str(path.relative_to(root.parent)))
    assert archive.stat().st_size <= 10 * 1024 * 1024


def test_every_resource_of_the_translated_template_is_created_on_the_emulator(local_stack: LocalStack) -> None:
    from meshplane.local.plan import make_plan
    from meshplane.local.template import translate

    translated = translate(TEMPLATE, {}, "us-east-1", "123456789012")
    plan = make_plan(translated.body, translated.code_dirs, local_stack.stack_name, "us-east-1", "123456789012")
    cfn = local_stack.client("cloudformation")
    assert cfn.describe_stacks(StackName=local_stack.stack_name)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    summaries = cfn.list_stack_resources(StackName=local_stack.stack_name)["StackResourceSummaries"]
    created = {s["LogicalResourceId"]: s for s in summaries if s.get("LogicalResourceId")}
    # a wait-condition handle only orders other resources; moto's CloudFormation skips it, as it has nothing to make
    enabled = {lid for lid, res in plan.stack_template["Resources"].items()
               if "Condition" not in res and res["Type"] != "AWS::CloudFormation::WaitConditionHandle"}
    assert enabled <= created.keys()
    assert all(created[lid]["ResourceStatus"] == "CREATE_COMPLETE" for lid in enabled)

    # the types the emulator's CloudFormation lacks are applied through their APIs
    outputs = local_stack.state["outputs"]
    # the bucket is TLS-only in AWS; moto ignores policy conditions, so locally that deny is left out
    bucket_policy = plan.applied["SnapshotBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert any(st["Effect"] == "Deny" and st["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
               for st in bucket_policy)
    s3 = local_stack.client("s3")
    s3.put_object(Bucket=local_stack.bucket, Key="probe/tls-policy", Body=b"ok")
    assert s3.get_object(Bucket=local_stack.bucket, Key="probe/tls-policy")["Body"].read() == b"ok"
    queue_policy = local_stack.client("sqs").get_queue_attributes(
        QueueUrl=outputs["ConfigPublishedQueueUrl"], AttributeNames=["Policy"])["Attributes"]["Policy"]
    assert "events.amazonaws.com" in queue_policy
    alarms = {a["AlarmName"] for a in local_stack.client("cloudwatch").describe_alarms()["MetricAlarms"]}
    expected_alarms = {f"{local_stack.stack_name}-{lid}" for lid, res in plan.applied.items()
                       if res["Type"] == "AWS::CloudWatch::Alarm"}
    assert expected_alarms and expected_alarms <= alarms

    # and every function and event source is played by the local runtime
    assert set(local_stack.state["functions"]) == set(plan.functions)
    table = local_stack.client("dynamodb").describe_table(TableName=local_stack.table)["Table"]
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert {k["AttributeName"] for k in table["KeySchema"]} == {"pk", "sk"}


def test_an_ecs_event_put_on_the_bus_reaches_the_deployed_handler(local_stack: LocalStack) -> None:
    before = local_stack.function_stats()["EcsEventsFunction"]["invocations"]
    detail = json.loads((REPO / "events" / "ecs_task_running_fargate.json").read_text())["detail"]
    local_stack.client("events").put_events(Entries=[{
        "Source": "aws.ecs", "DetailType": "ECS Task State Change", "Detail": json.dumps(detail),
    }])
    deadline = time.monotonic() + 20
    while local_stack.function_stats()["EcsEventsFunction"]["invocations"] <= before:
        if time.monotonic() > deadline:
            pytest.fail("the ECS task state change never reached EcsEventsFunction")
        time.sleep(0.1)


def _statements(document: Any) -> list[dict[str, Any]]:
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError:  # moto keeps CloudFormation-made inline policies as a Python repr
            document = ast.literal_eval(document)
    statements = document["Statement"]
    return statements if isinstance(statements, list) else [statements]


def _as_list(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value]


def test_every_function_role_is_least_privilege(local_stack: LocalStack) -> None:
    iam = local_stack.client("iam")
    cfn = local_stack.client("cloudformation")
    summaries = cfn.list_stack_resources(StackName=local_stack.stack_name)["StackResourceSummaries"]
    roles = {s["LogicalResourceId"]: s["PhysicalResourceId"] for s in summaries
             if s.get("ResourceType") == "AWS::IAM::Role"}
    assert set(FUNCTION_ROLES) <= roles.keys()
    star_grants: set[str] = set()
    for logical_id in FUNCTION_ROLES:
        role = roles[logical_id]
        assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
        names = iam.list_role_policies(RoleName=role)["PolicyNames"]
        assert names
        for name in names:
            for statement in _statements(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]):
                assert statement["Effect"] == "Allow"
                actions = _as_list(statement["Action"])
                resources = _as_list(statement["Resource"])
                assert all("*" not in action for action in actions), (logical_id, actions)
                if "*" in resources:
                    star_grants.update(actions)
                    assert set(actions) <= STAR_RESOURCE_ACTIONS, (logical_id, actions)
                    if "cloudwatch:PutMetricData" in actions:
                        assert "cloudwatch:namespace" in json.dumps(statement.get("Condition", {}))
    assert star_grants == STAR_RESOURCE_ACTIONS  # the walk really read the policies, exceptions included
