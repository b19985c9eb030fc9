"""Faults: throttling and 5xx from AWS, a handler dying mid-batch, a lost stream batch.

Faults are injected in front of moto with botocore's own event hooks, so the
production clients' retry logic (standard mode) is what deals with them.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from meshplane.model.ids import Kind, ProxyId
from meshplane.snapshot.types import XdsType

from . import meshes
from .conftest import LambdaContext, World, make_world, sample, sqs_batch
from .ecs_tasks import Cluster, eni_address, tasks_stay_running

FRONT = ProxyId("colors", Kind.VIRTUAL_NODE, "front")
EGRESS_BLUE = "cds_egress_colors_colors-blue_http_8080"


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body

    def read(self, *_: Any, **__: Any) -> bytes:
        return self._body


def flaky(client: Any, every: int, status: int, error: str) -> list[str]:
    """Make every `every`-th request of `client` fail with `status`/`error`, unseen by moto.

    botocore runs every `before-send` handler and uses the first response; this one
    runs first and points the request away from moto's URL patterns, so moto leaves
    it alone and the request never reaches the table, as a throttled one would not.
    """
    counter = itertools.count(1)
    failed: list[str] = []

    def before_send(request: Any, **_: Any) -> AWSResponse | None:
        if next(counter) % every:
            return None
        failed.append(request.headers.get("X-Amz-Target", b"").decode() or request.url)
        request.url = "https://fault-injection.invalid/"
        body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{error}", "message": "injected"}).encode()
        headers = {"x-amzn-ErrorType": error, "Content-Type": "application/x-amz-json-1.0"}
        return AWSResponse(request.url, status, headers, _Raw(body))

    client.meta.events.register_first("before-send", before_send)
    return failed


def front_addresses(world: World) -> list[str]:
    snapshot = world.snapshot(FRONT)
    assert snapshot is not None
    cla = snapshot.of(XdsType.ENDPOINTS)[EGRESS_BLUE]
    return [lb.endpoint.address.socket_address.address for loc in cla.endpoints for lb in loc.lb_endpoints]


@pytest.mark.parametrize("status, error", [(400, "ThrottlingException"), (500, "InternalServerError"),
                                           (400, "ProvisionedThroughputExceededException")])
def test_throttling_and_5xx_from_dynamodb_are_retried_and_nothing_is_lost(aws_env: None, status: int,
                                                                          error: str) -> None:
    world = make_world(production_clients=True, validators=[])
    meshes.colors(world)
    world.recompute()
    failed = flaky(world.clients.dynamodb, every=3, status=status, error=error)

    assert world.ecs([sample("ecs_task_running_fargate.json")]) == {"batchItemFailures": []}
    assert world.recompute() == {"batchItemFailures": []}

    assert failed, "no fault was injected"
    assert front_addresses(world) == ["10.0.1.25"]


def fail_once(client: Any, operation: str, when: Callable[[dict[str, Any]], bool]) -> list[int]:
    """The first matching call raises as if the process had crashed mid-batch."""
    died: list[int] = []

    def before_call(params: dict[str, Any], **_: Any) -> None:
        if not died and when(params):
            died.append(1)
            raise RuntimeError("the handler died here")

    client.meta.events.register_first(f"before-parameter-build.dynamodb.{operation}", before_call)
    return died


def test_a_record_dying_mid_batch_is_redelivered_alone_and_the_batch_completes(world: World) -> None:
    meshes.colors(world)
    bridge = sample("ecs_task_running_ec2_bridge.json")
    bridge["detail"]["attachments"] = [sample("ecs_task_running_fargate.json")["detail"]["attachments"][0]]
    bridge["detail"]["attachments"][0]["details"][-1]["value"] = "10.0.1.26"
    died = fail_once(world.clients.dynamodb, "PutItem",
                     lambda p: p.get("Item", {}).get("sk", {}).get("S", "").startswith("I#ecs#0f9e8d7c"))
    batch = [sample("ecs_task_running_fargate.json"), bridge]
    event = sqs_batch(batch)

    result = world.pipeline.ecs_events(event, LambdaContext())

    assert died
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}
    assert [e.address for e in world.endpoints("colors", "colors-blue")] == ["10.0.1.25"]
    assert world.ecs([bridge]) == {"batchItemFailures": []}  # SQS redelivers only the failed record
    assert [e.address for e in world.endpoints("colors", "colors-red")] == ["10.0.1.26"]


def test_an_invocation_killed_outright_is_redelivered_whole_and_converges(world: World) -> None:
    meshes.colors(world)
    batch = [sample("ecs_task_running_fargate.json"), sample("ecs_task_running_ec2_bridge.json")]

    class Killed(BaseException):
        """Not an Exception: nothing in the handler may catch it, like a timeout or OOM kill."""

    def kill(params: dict[str, Any], **_: Any) -> None:
        if params.get("Item", {}).get("sk", {}).get("S", "").startswith("I#ecs#"):
            raise Killed()

    world.clients.dynamodb.meta.events.register_first("before-parameter-build.dynamodb.PutItem", kill)
    with pytest.raises(Killed):
        world.pipeline.ecs_events(sqs_batch(batch), LambdaContext(remaining_ms=1000))
    world.clients.dynamodb.meta.events.unregister("before-parameter-build.dynamodb.PutItem", kill)

    # The whole batch comes back.  Its first record's idempotency record is still
    # INPROGRESS until the dead invocation's deadline passes, so redeliveries fail
    # until then, exactly as on AWS, and succeed after.
    deadline = time.time() + 20
    pending = batch
    while pending and time.time() < deadline:
        event = sqs_batch(pending)
        result = world.pipeline.ecs_events(event, LambdaContext())
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        pending = [e for e, r in zip(pending, event["Records"], strict=True) if r["messageId"] in failed]
        if pending:
            time.sleep(0.5)
    assert pending == []
    assert [e.address for e in world.endpoints("colors", "colors-blue")] == ["10.0.1.25"]


def test_the_reconcile_publishes_what_a_lost_stream_batch_never_did(world: World) -> None:
    meshes.colors(world)
    world.recompute()
    with tasks_stay_running():
        cluster = Cluster.create(world)
        task = cluster.run()  # a task ECS really runs, so the reconcile's ECS pass keeps its endpoint
        world.ecs([cluster.event(task, version=2)])
        world.stream.drain()  # the recompute invocation for these records never happens

        summary = world.reconcile()

        assert FRONT.path in summary["published"]
        assert front_addresses(world) == [eni_address(task)]
        assert world.reconcile()["published"] == []  # nothing left to repair


def test_the_reconcile_repairs_a_missing_pointer(world: World) -> None:
    meshes.colors(world)
    world.recompute()
    world.clients.dynamodb.delete_item(TableName=world.settings.table,
                                       Key={"pk": {"S": f"PROXY#{FRONT.path}"}, "sk": {"S": "POINTER"}})
    summary = world.reconcile()
    assert summary["published"] == [FRONT.path]
    assert world.pipeline.pointers.get(FRONT.path) is not None
