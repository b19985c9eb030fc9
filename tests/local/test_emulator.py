"""The emulator `local up` runs: DynamoDB transactions atomic and isolated, Cloud Map calls seen on the bus.

Each test runs against `meshplane.local.motoserver`, and fails against plain moto.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError
from meshplane.local.moto_streams import LIFETIME, ExpiringIterators

THREADS = 20
Connect = Callable[[str, str], Any]


@pytest.fixture
def table(own_moto: str, connect: Connect) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    connect(own_moto, "dynamodb").create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )  # fmt: skip
    return name


def _fill(ddb: Any, table: str, items: int = 300) -> None:
    """Items beside the ones a test races on, as a state table holds: moto copies them all per transaction."""
    for first in range(0, items, 25):
        ddb.batch_write_item(RequestItems={table: [
            {"PutRequest": {"Item": {**_key(f"filler-{i}"), "blob": {"S": "x" * 200}}}}
            for i in range(first, min(first + 25, items))]})  # fmt: skip


def _key(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": "x"}}


def _latest_iterator(endpoint: str, connect: Connect, table: str) -> str:
    arn = connect(endpoint, "dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
    streams = connect(endpoint, "dynamodbstreams")
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    return str(streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")["ShardIterator"])


def test_a_cancelled_transaction_leaves_no_write_no_stream_record_and_the_shard_iterators_working(
    own_moto: str, connect: Connect, table: str
) -> None:
    ddb, streams = connect(own_moto, "dynamodb"), connect(own_moto, "dynamodbstreams")
    ddb.put_item(TableName=table, Item=_key("existing"))
    iterator = _latest_iterator(own_moto, connect, table)
    with pytest.raises(ClientError) as cancelled:
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": _key("written-then-undone")}},
            {"Delete": {"TableName": table, "Key": _key("existing")}},
            {"ConditionCheck": {"TableName": table, "Key": _key("absent"),
                                "ConditionExpression": "attribute_exists(pk)"}},
        ])  # fmt: skip
    reasons = [r["Code"] for r in cancelled.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "ConditionalCheckFailed"]
    assert "Item" not in ddb.get_item(TableName=table, Key=_key("written-then-undone"))
    assert "Item" in ddb.get_item(TableName=table, Key=_key("existing"))

    page = streams.get_records(ShardIterator=iterator)
    assert page["Records"] == []  # no phantom INSERT or REMOVE
    ddb.put_item(TableName=table, Item=_key("after"))
    records = streams.get_records(ShardIterator=page["NextShardIterator"])["Records"]
    assert [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in records] == [("INSERT", "after")]


def test_concurrent_creates_of_one_item_let_exactly_one_win_and_count_it_once(
    own_moto: str, connect: Connect, table: str
) -> None:
    ddb = connect(own_moto, "dynamodb")
    _fill(ddb, table)
    names = ["one", "two", "three"]
    start = threading.Barrier(THREADS)

    def create(name: str, i: int) -> bool:
        start.wait()
        try:
            ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": table, "Item": {**_key(name), "by": {"N": str(i)}},
                         "ConditionExpression": "attribute_not_exists(pk)"}},
                {"Update": {"TableName": table, "Key": _key("count"), "UpdateExpression": "ADD n :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}}}},
            ])  # fmt: skip
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "TransactionCanceledException"
            return False
        return True

    with ThreadPoolExecutor(THREADS) as pool:
        wins = {name: sum(pool.map(create, [name] * THREADS, range(THREADS))) for name in names}
    assert wins == dict.fromkeys(names, 1)
    assert ddb.get_item(TableName=table, Key=_key("count"))["Item"]["n"] == {"N": str(len(names))}


def test_a_cancelled_transaction_never_undoes_what_others_committed_meanwhile(
    own_moto: str, connect: Connect, table: str
) -> None:
    """Half the writers add to a counter, half are refused by a condition: the counter holds every addition."""
    ddb = connect(own_moto, "dynamodb")
    ddb.put_item(TableName=table, Item={**_key("count"), "n": {"N": "0"}})
    ddb.put_item(TableName=table, Item=_key("present"))
    _fill(ddb, table)
    start = threading.Barrier(THREADS)

    def add(i: int) -> bool:
        refused = i % 2 == 1
        start.wait()
        for _ in range(5):
            try:
                ddb.transact_write_items(TransactItems=[
                    {"Update": {"TableName": table, "Key": _key("count"), "UpdateExpression": "ADD n :one",
                                "ExpressionAttributeValues": {":one": {"N": "1"}}}},
                    {"ConditionCheck": {"TableName": table, "Key": _key("present"),
                                        "ConditionExpression": "attribute_not_exists(pk)" if refused
                                        else "attribute_exists(pk)"}},
                    {"Put": {"TableName": table, "Item": _key(f"writer-{i}-{time.monotonic_ns()}")}},
                ])  # fmt: skip
            except ClientError:
                assert refused
        return not refused

    with ThreadPoolExecutor(THREADS) as pool:
        added = 5 * sum(pool.map(add, range(THREADS)))
    assert ddb.get_item(TableName=table, Key=_key("count"))["Item"]["n"] == {"N": str(added)}


def test_cloud_map_instance_calls_put_their_cloudtrail_events_on_the_default_bus(
    own_moto: str, connect: Connect
) -> None:
    sd, events, sqs = (connect(own_moto, s) for s in ("servicediscovery", "events", "sqs"))
    queue = sqs.create_queue(QueueName=f"cloudtrail-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule = f"cloudmap-{uuid.uuid4().hex[:8]}"
    events.put_rule(Name=rule, EventPattern=json.dumps({  # the template's CloudMapInstanceRule
        "source": ["aws.servicediscovery"], "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {"eventSource": ["servicediscovery.amazonaws.com"],
                   "eventName": ["RegisterInstance", "DeregisterInstance", "UpdateInstanceCustomHealthStatus"]}}))
    events.put_targets(Rule=rule, Targets=[{"Id": "queue", "Arn": queue_arn}])
    sd.create_http_namespace(Name=f"ns-{uuid.uuid4().hex[:8]}")
    namespace = sd.list_namespaces()["Namespaces"][-1]["Id"]
    service = sd.create_service(Name="back", NamespaceId=namespace,
                                HealthCheckCustomConfig={"FailureThreshold": 1})["Service"]["Id"]

    sd.register_instance(ServiceId=service, InstanceId="i-1", Attributes={"AWS_INSTANCE_IPV4": "10.0.0.7"})
    sd.update_instance_custom_health_status(ServiceId=service, InstanceId="i-1", Status="UNHEALTHY")
    sd.deregister_instance(ServiceId=service, InstanceId="i-1")
    with pytest.raises(ClientError):
        sd.deregister_instance(ServiceId=service, InstanceId="i-1")  # a failed call: no event

    received: list[dict[str, Any]] = []
    deadline = time.monotonic() + 5
    while len(received) < 3 and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                "Messages", []):  # fmt: skip
            received.append(json.loads(message["Body"]))
    details = [event["detail"] for event in received]
    assert [d["eventName"] for d in details] == ["RegisterInstance", "UpdateInstanceCustomHealthStatus",
                                                 "DeregisterInstance"]  # fmt: skip
    assert all(e["source"] == "aws.servicediscovery" for e in received)
    assert all(d["requestParameters"]["serviceId"] == service for d in details)
    assert all(d["requestParameters"]["instanceId"] == "i-1" for d in details)
    assert details[0]["requestParameters"]["attributes"] == {"AWS_INSTANCE_IPV4": "10.0.0.7"}
    assert details[0]["responseElements"]["operationId"]
    assert details[1]["requestParameters"]["status"] == "UNHEALTHY"
    assert sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", []) == []


def test_shard_iterators_are_kept_for_fifteen_minutes_only() -> None:
    """moto keeps every iterator it issued (one per GetRecords): a polling local up grew by 3 MB a minute."""
    now = [0.0]
    issued = ExpiringIterators(clock=lambda: now[0])
    issued["first"] = object()
    now[0] = LIFETIME - 1
    issued["second"] = object()
    assert set(issued) == {"first", "second"}
    now[0] = LIFETIME + 1
    assert "first" not in issued and "second" in issued
    now[0] = 10 * LIFETIME
    issued["latest"] = object()
    assert list(issued) == ["latest"]


def test_an_update_that_swaps_a_large_attribute_for_another_is_within_dynamodbs_item_limit(
    own_moto: str, connect: Connect, table: str
) -> None:
    ddb = connect(own_moto, "dynamodb")
    ddb.put_item(TableName=table, Item={**_key("big"), "spec": {"S": "a" * 250_000}})
    ddb.update_item(TableName=table, Key=_key("big"), UpdateExpression="SET spec = :s",
                    ExpressionAttributeValues={":s": {"S": "b" * 250_000}})  # fmt: skip
    assert ddb.get_item(TableName=table, Key=_key("big"))["Item"]["spec"]["S"][0] == "b"
    with pytest.raises(ClientError, match="Item size"):
        ddb.put_item(TableName=table, Item={**_key("too-big"), "spec": {"S": "c" * 409_600}})
