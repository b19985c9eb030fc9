"""Poison and bogus events on the queues `meshplane local up` consumes, sent the way AWS would deliver them.

One batch mixes a good ECS task event with garbage: bad addresses (not an IP, 999.999.999.999,
10 kB), a version past the bound, truncated JSON, a body that is not an event object, the wrong
detail-type and a 200 kB task ARN.  The good event is applied; nothing of the garbage is stored
or published; records that can never succeed are retried at most `maxReceiveCount` times and
end in the dead-letter queue, records with a bad address are consumed with nothing stored (a
retry would read the same address), and the queue drains.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from typing import Any

import pytest

from .test_pipeline_e2e import EVENTS, addresses, caller_mesh, eventually, listener, snapshot_of

pytestmark = pytest.mark.emulator
REDRIVE_S = 60  # five receives a second or so apart, with the local runtime's one-second retry delay


def queue_url(stack: Any, logical_id: str) -> str:
    """The URL of a queue of the deployed template (a queue's physical id is its URL)."""
    summaries = stack.client("cloudformation").list_stack_resources(StackName=stack.stack_name)
    (physical,) = [r["PhysicalResourceId"] for r in summaries["StackResourceSummaries"]
                   if r.get("LogicalResourceId") == logical_id]
    return stack.client("sqs").get_queue_url(QueueName=physical.rsplit("/", 1)[-1])["QueueUrl"]


def task_event(mesh: str, token: str, name: str, **detail: Any) -> dict[str, Any]:
    """An EventBridge ECS Task State Change for a task of node `back`, as the rule puts it on the queue."""
    event = json.loads((EVENTS / "ecs_task_running_fargate.json").read_text())
    event["id"] = f"{token}-{name}"
    body = event["detail"]
    body["taskArn"] = body["taskArn"].rsplit("/", 1)[0] + f"/{token}{name}"
    body["group"] = "family:back"
    body["overrides"]["containerOverrides"][1]["environment"] = [
        {"name": "APPMESH_VIRTUAL_NODE_NAME", "value": f"mesh/{mesh}/virtualNode/back"}]
    body.update(detail)
    return event


def with_address(event: dict[str, Any], address: str) -> dict[str, Any]:
    event = copy.deepcopy(event)
    event["detail"]["attachments"][0]["details"][-1]["value"] = address
    return event


def drain(sqs: Any, url: str) -> list[str]:
    bodies: list[str] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def stored_tasks(stack: Any, mesh: str) -> list[str]:
    items = stack.client("dynamodb").query(
        TableName=stack.table, KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"EP#{mesh}#back"}})["Items"]
    return sorted(item["sk"]["S"].removeprefix("I#ecs#") for item in items)


def test_poison_and_bogus_ecs_events_store_nothing_end_in_the_dlq_and_do_not_block_the_good_one(
        local_stack: Any) -> None:
    mesh, cluster = caller_mesh(local_stack, {"listeners": [listener(8080)]})
    token = f"p{uuid.uuid4().hex[:10]}"
    sqs = local_stack.client("sqs")
    queue, dead = queue_url(local_stack, "EcsEventsQueue"), queue_url(local_stack, "EcsEventsDeadLetterQueue")
    good = task_event(mesh, token, "good")
    dropped = {  # well-formed events whose address no Envoy would accept: consumed, nothing stored
        "not-an-ip": with_address(task_event(mesh, token, "b1"), "not-an-ip"),
        "out-of-range": with_address(task_event(mesh, token, "b2"), "999.999.999.999"),
        "10kB": with_address(task_event(mesh, token, "b3"), "7" * 10_000),
    }
    poison = {  # can never succeed: retried up to maxReceiveCount, then dead-lettered
        "version": json.dumps(task_event(mesh, token, "p1", version=2**63)),
        "truncated": json.dumps(task_event(mesh, token, "p2"))[:300],
        "not-an-object": json.dumps([f"{token}-p3"]),
        "detail-type": json.dumps(task_event(mesh, token, "p4") | {"detail-type": "EC2 Instance State-change"}),
        "200kB-arn": json.dumps(task_event(mesh, token, "p5", taskArn=f"arn:aws:ecs:{token}/" + "x" * 200_000)),
    }
    bodies = [json.dumps(good), *(json.dumps(e) for e in dropped.values()), *poison.values()]
    assert len(bodies) <= 10
    sent = sqs.send_message_batch(QueueUrl=queue, Entries=[
        {"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies)])
    assert not sent.get("Failed")

    eventually(lambda: addresses(snapshot_of(local_stack, mesh, "front"), cluster) == ["10.0.1.25"],
               what="the good event in front's snapshot")

    def dead_lettered() -> list[str] | None:
        found.extend(body for body in drain(sqs, dead) if token in body)
        return found if len(found) >= len(poison) else None

    found: list[str] = []
    eventually(dead_lettered, timeout=REDRIVE_S, what="every poison record in the dead-letter queue")
    assert sorted(found) == sorted(poison.values()), "exactly the poison, each once; no bad-address record"

    def drained() -> bool:
        attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return attributes["ApproximateNumberOfMessages"] == attributes["ApproximateNumberOfMessagesNotVisible"] == "0"

    eventually(drained, timeout=30, what="the events queue to drain: nothing is retried forever")
    assert stored_tasks(local_stack, mesh) == [f"{token}good"], "nothing of the garbage is stored"
    time.sleep(1)  # anything late would have reached the snapshot by now
    assert addresses(snapshot_of(local_stack, mesh, "front"), cluster) == ["10.0.1.25"]


def test_cloud_map_garbage_is_dead_lettered_and_a_bad_instance_never_reaches_a_snapshot(local_stack: Any) -> None:
    sd = local_stack.client("servicediscovery")
    namespace_name = f"ns-{uuid.uuid4().hex[:8]}.local"
    sd.create_http_namespace(Name=namespace_name)
    namespace = next(n["Id"] for n in sd.list_namespaces()["Namespaces"] if n["Name"] == namespace_name)
    service = sd.create_service(Name="back", NamespaceId=namespace)["Service"]["Id"]
    mesh, cluster = caller_mesh(local_stack, {
        "listeners": [listener(8080)],
        "serviceDiscovery": {"awsCloudMap": {"namespaceName": namespace_name, "serviceName": "back"}}})
    token = f"c{uuid.uuid4().hex[:10]}"
    sqs = local_stack.client("sqs")
    queue = queue_url(local_stack, "CloudMapEventsQueue")
    dead = queue_url(local_stack, "CloudMapEventsDeadLetterQueue")
    call = json.loads((EVENTS / "cloudmap_register_instance.json").read_text())
    poison = [
        json.dumps(call | {"id": token})[:200],
        json.dumps(call | {"id": token, "source": "aws.ec2"}),
        json.dumps(call | {"id": token, "detail": {"eventName": "RegisterInstance", "requestParameters": {}}}),
        json.dumps(call | {"id": token, "padding": "x" * 200_000, "detail": "not an object"}),
    ]
    sqs.send_message_batch(QueueUrl=queue, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(poison)])
    sd.register_instance(ServiceId=service, InstanceId="bad", Attributes={"AWS_INSTANCE_IPV4": "999.999.999.999"})
    sd.register_instance(ServiceId=service, InstanceId="good", Attributes={"AWS_INSTANCE_IPV4": "10.2.0.1"})

    eventually(lambda: addresses(snapshot_of(local_stack, mesh, "front"), cluster) == ["10.2.0.1"],
               what="the good instance, alone, in front's snapshot")
    found: list[str] = []

    def dead_lettered() -> list[str] | None:
        found.extend(body for body in drain(sqs, dead) if token in body)
        return found if len(found) >= len(poison) else None

    eventually(dead_lettered, timeout=REDRIVE_S, what="every poison record in the dead-letter queue")
    assert sorted(found) == sorted(poison)
