"""Each function's role in template.yaml allows every AWS call its handler really makes (recorded from botocore)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

from . import meshes
from .conftest import LambdaContext, World, sample, sqs_batch

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
ROLES = {"ecs_events": "EcsEventsFunctionRole", "cloudmap_events": "CloudMapEventsFunctionRole",
         "recompute": "RecomputeFunctionRole", "reconcile": "ReconcileFunctionRole",
         "recompute_shard": "RecomputeShardFunctionRole"}


def granted(role: str) -> set[str]:
    template, problems = decode(str(TEMPLATE))
    assert not problems
    actions: set[str] = set()
    for policy in template["Resources"][role]["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            value = statement["Action"]
            actions.update([value] if isinstance(value, str) else value)
    return actions


@contextmanager
def recording(world: World) -> Iterator[set[str]]:
    """`iam-prefix:Operation` of every call the pipeline's clients make inside the block."""
    calls: set[str] = set()
    clients = world.pipeline.clients

    def record(model: Any, **_: Any) -> None:
        calls.add(f"{model.service_model.signing_name}:{model.name}")

    names = ("dynamodb", "s3", "events", "ecs", "servicediscovery", "ec2", "acm", "acm_pca")
    hooked = [getattr(clients, name) for name in names]
    for client in hooked:
        client.meta.events.register("before-call", record)
    try:
        yield calls
    finally:
        for client in hooked:
            client.meta.events.unregister("before-call", record)


def run_every_entry_point(world: World, workdir: Path) -> dict[str, set[str]]:
    """Drive each handler through its main paths: events in, recompute, and the reconcile (ACM TLS included)."""
    from support.acm import MotoPrivateCa
    from support.pki import TestCA

    from .test_acm import acm_mesh

    meshes.colors(world)
    pca = MotoPrivateCa(TestCA(workdir), world.clients.acm, world.clients.acm_pca)
    acm_mesh(world, pca.issue("secure", ("secure.local",)), pca.arn)
    runs: list[tuple[str, Callable[[], Any]]] = [
        ("reconcile", world.reconcile),  # a new mesh: the reconcile publishes every proxy
        ("ecs_events", lambda: world.ecs([sample("ecs_task_running_fargate.json"),
                                          sample("ecs_task_running_ec2_bridge.json")])),
        ("recompute", lambda: world.pipeline.recompute({"Records": world.stream.drain()}, LambdaContext())),
        ("ecs_events", lambda: world.ecs([sample("ecs_task_stopped_fargate.json")])),
        ("cloudmap_events", lambda: world.cloudmap([sample("cloudmap_register_instance.json")])),
        ("recompute_shard", lambda: world.pipeline.recompute_shard(sqs_batch([{  # one shard: a full rebuild of front
            "id": "iam-0", "mesh": "colors", "index": 0, "count": 1, "full": ["mesh/colors/virtualNode/front"]}]),
            LambdaContext())),
        ("reconcile", world.reconcile),
    ]
    seen: dict[str, set[str]] = {}
    for function, step in runs:
        with recording(world) as calls:
            step()
        seen.setdefault(function, set()).update(calls)
    return seen


@pytest.fixture(scope="module")
def calls_per_function(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    from moto import mock_aws

    from .conftest import make_world

    mp = pytest.MonkeyPatch()
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true",
                       "POWERTOOLS_SERVICE_NAME": "meshplane-pipeline-test-iam",
                       "POWERTOOLS_METRICS_NAMESPACE": "MeshplaneTest"}.items():
        mp.setenv(key, value)
    mp.delenv("AWS_ENDPOINT_URL", raising=False)
    try:
        with mock_aws():
            return run_every_entry_point(make_world(validators=[]), tmp_path_factory.mktemp("pca"))
    finally:
        mp.undo()


@pytest.mark.parametrize("function", sorted(ROLES))
def test_the_role_of_each_function_allows_every_call_its_handler_makes(
        function: str, calls_per_function: dict[str, set[str]]) -> None:
    calls = calls_per_function[function]
    assert calls, "the scenario made no AWS call: it proves nothing"
    assert calls - granted(ROLES[function]) == set()


@pytest.mark.parametrize("function", ["recompute", "reconcile"])
def test_the_publishing_functions_are_checked_with_their_acm_calls(
        function: str, calls_per_function: dict[str, set[str]]) -> None:
    acm = {call for call in calls_per_function[function] if call.startswith("acm")}
    assert {"acm:DescribeCertificate", "acm-pca:GetCertificateAuthorityCertificate"} <= acm, acm
