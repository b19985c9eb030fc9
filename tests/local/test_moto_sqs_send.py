"""An SQS send in the emulator (`moto_sqs_send`) reads one queue attribute; moto's answers stay the same."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from meshplane.local import moto_sqs_send
from moto import mock_aws
from moto.sqs.models import Queue, sqs_backends

DEAD = "dead-letters"


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Queues of every kind whose attributes differ: standard, FIFO with and without content deduplication, and
    one with KMS, a redrive policy and a policy."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("sqs", region_name="us-east-1")
        dead = client.create_queue(QueueName=DEAD)["QueueUrl"]
        arn = client.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        client.create_queue(QueueName="plain")
        client.create_queue(QueueName="ordered.fifo", Attributes={"FifoQueue": "true",
                                                                  "ContentBasedDeduplication": "true"})
        client.create_queue(QueueName="explicit.fifo", Attributes={"FifoQueue": "true"})
        client.create_queue(QueueName="guarded", Attributes={
            "KmsMasterKeyId": "alias/key", "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn,
                                                                         "maxReceiveCount": 3}),
            "Policy": json.dumps({"Version": "2012-10-17", "Statement": []})})
        yield client


def _queues() -> list[Any]:
    return list(sqs_backends["123456789012"]["us-east-1"].queues.values())


def test_the_on_demand_attributes_are_moto_s_attributes(sqs: Any) -> None:
    moto_sqs_send.install()
    sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName="plain")["QueueUrl"], MessageBody="one")
    whole = moto_sqs_send.MOTO["attributes"].fget
    for queue in _queues():
        on_demand = moto_sqs_send.OnDemandAttributes(queue)
        assert dict(on_demand) == whole(queue)
        assert list(on_demand) == list(whole(queue))
        assert on_demand.get("ContentBasedDeduplication") == whole(queue).get("ContentBasedDeduplication")
    assert {q.name: q.attributes["ApproximateNumberOfMessages"] for q in _queues()}["plain"] == 1


def test_a_send_never_counts_the_queue_s_messages(sqs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    moto_sqs_send.install()
    counted: list[str] = []
    messages = Queue.__dict__["messages"].fget
    monkeypatch.setattr(Queue, "messages", property(lambda q: counted.append(q.name) or messages(q)))
    plain = sqs.get_queue_url(QueueName="plain")["QueueUrl"]
    for n in range(5):
        sqs.send_message(QueueUrl=plain, MessageBody=str(n))
    assert counted == []
    attributes = sqs.get_queue_attributes(QueueUrl=plain, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "5" and counted  # GetQueueAttributes still counts


def test_fifo_deduplication_still_reads_its_attribute(sqs: Any) -> None:
    moto_sqs_send.install()
    ordered = sqs.get_queue_url(QueueName="ordered.fifo")["QueueUrl"]
    for _ in range(3):
        sqs.send_message(QueueUrl=ordered, MessageBody="same", MessageGroupId="g")
    explicit = sqs.get_queue_url(QueueName="explicit.fifo")["QueueUrl"]
    with pytest.raises(sqs.exceptions.ClientError, match="ContentBasedDeduplication"):
        sqs.send_message(QueueUrl=explicit, MessageBody="x", MessageGroupId="g")
    received = sqs.receive_message(QueueUrl=ordered, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in received] == ["same"]
