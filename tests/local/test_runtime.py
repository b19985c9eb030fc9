"""The local runtime plays Lambda for a template: SQS, DynamoDB Streams and schedules, as AWS shapes them.

A small test application (recorder_app/template.yaml) records every invocation into S3,
so each test reads exactly what the handler received.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from meshplane.local.harness import LocalStack, start_local_up, stop_local_up

pytestmark = pytest.mark.xdist_group("local-runtime")  # one recorder stack for the module
APP = Path(__file__).parent / "recorder_app" / "template.yaml"


@pytest.fixture(scope="module")
def recorder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    stack = start_local_up(
        tmp_path_factory.mktemp("recorder"), "--template", str(APP), "--no-ads", "--schedule-interval", "1",
        "--stream-poll-interval", "0.05",
    )
    try:
        yield stack
    finally:
        stop_local_up(stack)


def _outputs(stack: LocalStack) -> dict[str, str]:
    cfn = stack.client("cloudformation")
    stack_description = cfn.describe_stacks(StackName=stack.stack_name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack_description["Outputs"]}


def _records(stack: LocalStack, function: str) -> list[dict[str, Any]]:
    s3, bucket = stack.client("s3"), _outputs(stack)["RecordsBucket"]
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=f"{stack.stack_name}-{function}/")
    keys = [o["Key"] for o in listing.get("Contents", [])]
    return [json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()) for key in keys]


def _eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


def _sqs_records(stack: LocalStack) -> list[dict[str, Any]]:
    return [r for rec in _records(stack, "QueueRecorder") for r in rec["event"]["Records"]]


def test_an_event_put_on_eventbridge_reaches_the_handler_as_an_sqs_batch(recorder: LocalStack) -> None:
    recorder.client("events").put_events(
        Entries=[{"Source": "meshplane.test", "DetailType": "Probe", "Detail": json.dumps({"probe": "eb-1"})}]
    )

    def delivered() -> list[dict[str, Any]]:
        return [r for r in _sqs_records(recorder) if json.loads(r["body"])["detail"].get("probe") == "eb-1"]

    records = _eventually(delivered)
    assert len(records) == 1
    record = records[0]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"].startswith("arn:aws:sqs:us-east-1:")
    assert {"messageId", "receiptHandle", "body", "attributes", "md5OfBody", "awsRegion"} <= record.keys()
    assert json.loads(record["body"])["detail-type"] == "Probe"
    invocation = next(r for r in _records(recorder, "QueueRecorder") if record in r["event"]["Records"])
    context = invocation["context"]
    assert context["function_name"] == f"{recorder.stack_name}-QueueRecorder"
    assert context["invoked_function_arn"].endswith(f":function:{recorder.stack_name}-QueueRecorder")
    assert context["memory_limit_in_mb"] == 256
    assert 0 < context["remaining_ms"] <= 10_000
    assert invocation["env"]["RECORDS_BUCKET"] == _outputs(recorder)["RecordsBucket"]  # resolved from the stack


def test_reported_batch_item_failures_are_retried_then_dead_lettered_alone(recorder: LocalStack) -> None:
    events = recorder.client("events")
    events.put_events(Entries=[
        {"Source": "meshplane.test", "DetailType": "Probe",
         "Detail": json.dumps({"probe": "bad-1", "x": "please-fail"})},
        {"Source": "meshplane.test", "DetailType": "Probe", "Detail": json.dumps({"probe": "good-1"})},
    ])
    sqs, dlq = recorder.client("sqs"), _outputs(recorder)["DeadLettersUrl"]

    def dead_lettered() -> list[dict[str, Any]]:
        return sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])

    messages = _eventually(dead_lettered, timeout=30)
    assert [json.loads(m["Body"])["detail"]["probe"] for m in messages] == ["bad-1"]
    deliveries = [json.loads(r["body"])["detail"]["probe"] for r in _sqs_records(recorder)]
    assert deliveries.count("good-1") == 1  # the healthy item of the batch was deleted, not retried
    assert deliveries.count("bad-1") == 2  # maxReceiveCount of the redrive policy


def test_stream_records_that_match_the_filter_reach_the_handler_as_a_stream_batch(recorder: LocalStack) -> None:
    ddb, table = recorder.client("dynamodb"), _outputs(recorder)["TableName"]
    ddb.put_item(TableName=table, Item={"pk": {"S": "SKIP#1"}, "sk": {"S": "a"}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "KEEP#1"}, "sk": {"S": "a"}, "n": {"N": "7"}})
    ddb.update_item(TableName=table, Key={"pk": {"S": "KEEP#1"}, "sk": {"S": "a"}},
                    UpdateExpression="SET n = :n", ExpressionAttributeValues={":n": {"N": "8"}})

    def delivered() -> list[dict[str, Any]]:
        return [r for rec in _records(recorder, "StreamRecorder") for r in rec["event"]["Records"]]

    records = _eventually(lambda: len(delivered()) >= 2 and delivered())
    records.sort(key=lambda r: int(r["dynamodb"]["SequenceNumber"]))
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY"]
    assert all(r["dynamodb"]["Keys"]["pk"]["S"] == "KEEP#1" for r in records)  # SKIP# was filtered out
    modify = records[1]
    assert modify["eventSource"] == "aws:dynamodb"
    assert modify["eventSourceARN"] == ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    assert modify["dynamodb"]["OldImage"]["n"] == {"N": "7"}
    assert modify["dynamodb"]["NewImage"]["n"] == {"N": "8"}
    assert modify["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"


def test_a_failing_stream_record_is_retried_then_sent_to_the_on_failure_destination(recorder: LocalStack) -> None:
    ddb, table = recorder.client("dynamodb"), _outputs(recorder)["TableName"]
    ddb.put_item(TableName=table, Item={"pk": {"S": "KEEP#poison"}, "sk": {"S": "please-fail"}})
    sqs, url = recorder.client("sqs"), _outputs(recorder)["StreamFailuresUrl"]

    def failure_records() -> list[dict[str, Any]]:
        return sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])

    messages = _eventually(failure_records, timeout=30)
    info = json.loads(messages[0]["Body"])
    assert info["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert info["DDBStreamBatchInfo"]["batchSize"] == 1
    attempts = [r for rec in _records(recorder, "StreamRecorder") for r in rec["event"]["Records"]
                if r["dynamodb"]["Keys"]["pk"]["S"] == "KEEP#poison"]
    assert len(attempts) == 2  # the first attempt plus MaximumRetryAttempts: 1


def test_the_schedule_fires_scheduled_events_at_the_local_interval(recorder: LocalStack) -> None:
    def fired() -> list[dict[str, Any]]:
        records = _records(recorder, "ScheduleRecorder")
        return records if len(records) >= 2 else []

    events = _eventually(fired)
    assert events, "the schedule never fired"
    event = events[0]["event"]
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    rule = f"{recorder.stack_name}-ScheduleRecorderTick"
    assert event["resources"] == [f"arn:aws:events:us-east-1:123456789012:rule/{rule}"]
