"""Records each invocation (event and context) into S3; fails items that carry the fail marker.

An SQS record whose EventBridge detail has `write: {"pk": ..., "sk": ...}` also puts that item into
TABLE_NAME, so a test can make a function write to the table that a stream source reads.
"""

from __future__ import annotations

import json
import os
from typing import Any

import boto3


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    record = {
        "event": event,
        "context": {
            "function_name": context.function_name,
            "aws_request_id": context.aws_request_id,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "invoked_function_arn": context.invoked_function_arn,
            "remaining_ms": context.get_remaining_time_in_millis(),
        },
        "env": {key: os.environ.get(key, "") for key in ("RECORDS_BUCKET", "AWS_LAMBDA_FUNCTION_NAME", "AWS_REGION")},
    }
    boto3.client("s3").put_object(
        Bucket=os.environ["RECORDS_BUCKET"],
        Key=f"{context.function_name}/{context.aws_request_id}.json",
        Body=json.dumps(record).encode(),
    )
    _write_requested_items(event)
    marker = os.environ["FAIL_MARKER"]
    failed = [
        {"itemIdentifier": r.get("messageId") or r["dynamodb"]["SequenceNumber"]}
        for r in event.get("Records", [])
        if marker in json.dumps(r)
    ]
    if failed and "dynamodb" in event["Records"][0]:
        raise RuntimeError("a stream record asked to fail")
    return {"batchItemFailures": failed}


def _write_requested_items(event: dict[str, Any]) -> None:
    table = os.environ.get("TABLE_NAME")
    for record in event.get("Records", []):
        try:
            item = json.loads(record["body"])["detail"]["write"]
        except (KeyError, TypeError, ValueError):
            continue
        if table:
            boto3.client("dynamodb").put_item(
                TableName=table, Item={"pk": {"S": item["pk"]}, "sk": {"S": item["sk"]}}
            )
