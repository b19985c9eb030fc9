"""Event sources played locally: SQS queues, DynamoDB streams and schedules.

Each builds the event exactly as Lambda delivers it and applies the mapping's settings
from the template: batch size, ReportBatchItemFailures, bisect-on-error, retries,
on-failure destinations and filter criteria (matched by the emulator's own EventBridge
pattern engine). A queue's redrive to its DLQ is the emulator's, driven by receive counts.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from botocore.exceptions import ClientError

from meshplane.local.invoker import Invocation
from meshplane.local.plan import QueueSource, ScheduleSource, StreamSource
from meshplane.local.shards import ShardCursor

log = logging.getLogger("meshplane.local")
Invoke = Callable[[Any], Invocation]


class Source(Protocol):
    name: str

    def run(self, stop: threading.Event) -> None: ...


def _failed_ids(outcome: Invocation, all_ids: list[str], report_failures: bool) -> list[str]:
    """Which items to retry: all on error; the reported ones with ReportBatchItemFailures."""
    if not outcome.ok:
        return all_ids
    if not report_failures or not isinstance(outcome.result, dict):
        return []
    failures = outcome.result.get("batchItemFailures") or []
    ids = [f.get("itemIdentifier") for f in failures if isinstance(f, dict)]
    if any(not item for item in ids):
        return all_ids  # Lambda treats an empty identifier as the whole batch failing
    return [item for item in ids if item in all_ids]


class QueuePoller:
    """Long-polls one queue and invokes the function with SQS batch events.

    A mapping's MaximumBatchingWindowInSeconds is not played: a batch is invoked as soon as a
    receive returns it, where Lambda may hold it up to that window to fill it.  Through a source
    with a window (the Cloud Map events' is 1 s), latency here is below AWS's by up to the window.
    """

    def __init__(self, source: QueueSource, sqs: Any, invoke: Invoke, region: str, retry_delay: int) -> None:
        self.name = source.logical_id
        self.source, self.sqs, self.invoke, self.region, self.retry_delay = source, sqs, invoke, region, retry_delay
        self.queue_url = sqs.get_queue_url(QueueName=source.queue_arn.rsplit(":", 1)[1])["QueueUrl"]

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.poll_once(wait_seconds=1)
            except Exception:
                log.exception("polling %s failed", self.name)
                stop.wait(1)

    def poll_once(self, wait_seconds: int) -> int:
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(self.source.batch_size, 10),
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        outcome = self.invoke({"Records": [self._record(m) for m in messages]})
        ids = [m["MessageId"] for m in messages]
        failed = set(_failed_ids(outcome, ids, self.source.report_failures))
        for message in messages:
            if message["MessageId"] in failed:
                # back to the queue sooner than the visibility timeout, for a quick local retry
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=self.retry_delay
                )
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:  # one call for the batch: the next receive, and so the next event, waits on it
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])
        return len(messages)

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {
                key: {
                    "stringValue": value.get("StringValue"),
                    "binaryValue": value.get("BinaryValue"),
                    "stringListValues": [],
                    "binaryListValues": [],
                    "dataType": value["DataType"],
                }
                for key, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.source.queue_arn,
            "awsRegion": self.region,
        }


class StreamPoller:
    """Reads every shard of a DynamoDB stream and invokes the function with stream batches.

    While idle it anchors each shard again every `RESYNC_SECONDS` at the last record it read
    (see `shards`), so a shard the emulator rewrote is followed again within that time,
    with no record lost or delivered twice.
    """

    RESYNC_SECONDS = 1.0
    DISCOVER_SECONDS = 5.0
    IDLE_SECONDS = 0.25  # Lambda reads a DynamoDB stream's shard four times a second

    def __init__(
        self, source: StreamSource, streams: Any, sqs: Any, invoke: Invoke, region: str, interval: float
    ) -> None:
        from moto.events.models import EventPattern, EventPatternParser  # the emulator's matcher, not ours

        self.name = source.logical_id
        self.source, self.streams, self.sqs, self.invoke = source, streams, sqs, invoke
        self.region, self.interval = region, interval
        self.filters = [EventPattern(raw, EventPatternParser(raw).parse()) for raw in source.filters]
        self.shards: dict[str, ShardCursor] = {}
        self.wake = threading.Event()  # set when a write may have just landed on the stream: poll without waiting
        self._discover(self.source.starting_position)

    def _iterator(self, shard_id: str, position: str, sequence: int | None = None) -> str:
        at = {"SequenceNumber": str(sequence)} if sequence is not None else {}
        return str(self.streams.get_shard_iterator(
            StreamArn=self.source.stream_arn, ShardId=shard_id, ShardIteratorType=position, **at)["ShardIterator"])

    def _discover(self, position: str) -> None:
        shards = self.streams.describe_stream(StreamArn=self.source.stream_arn)["StreamDescription"]["Shards"]
        for shard in shards:
            if shard["ShardId"] not in self.shards:
                self.shards[shard["ShardId"]] = ShardCursor(self._iterator(shard["ShardId"], position))

    def run(self, stop: threading.Event) -> None:
        """Read while records come; with none, wait `interval`, doubled after each empty read up to IDLE_SECONDS
        (an idle emulator is not read twenty times a second); a function's return wakes it at once."""
        last_discovery = last_resync = time.monotonic()
        wait = self.interval
        while not stop.is_set():
            try:
                if time.monotonic() - last_discovery > self.DISCOVER_SECONDS:
                    self._discover("TRIM_HORIZON")  # shards that appeared since start are read whole
                    last_discovery = time.monotonic()
                if self.poll_once():
                    wait = self.interval
                    continue
                if time.monotonic() - last_resync > self.RESYNC_SECONDS:
                    last_resync = time.monotonic()
                    if self.resync():
                        wait = self.interval
                        continue
                woken = self.wake.wait(wait)
                self.wake.clear()
                wait = self.interval if woken else min(wait * 2, max(self.interval, self.IDLE_SECONDS))
            except Exception:
                log.exception("polling %s failed", self.name)
                stop.wait(1)

    def poll_once(self) -> int:
        """Read each open shard once from where it stands; returns how many new records were read."""
        read = 0
        for shard_id, cursor in list(self.shards.items()):
            if cursor.iterator is None:
                continue
            try:
                page = self._page(cursor.iterator)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ExpiredIteratorException":
                    raise
                read += self._anchor(shard_id, cursor)  # e.g. after the machine slept for 15 minutes
                continue
            cursor.iterator = page.get("NextShardIterator")
            read += self._take(shard_id, cursor, page.get("Records", []))
        return read

    def resync(self) -> int:
        """Anchor each open shard again at the last record read; returns how many new records that found."""
        return sum(self._anchor(shard_id, cursor) for shard_id, cursor in list(self.shards.items())
                   if cursor.iterator is not None)

    def _anchor(self, shard_id: str, cursor: ShardCursor) -> int:
        """Read the shard from the last record read (the whole shard if none: this run created the table)."""
        if cursor.last is None:
            page = self._page(self._iterator(shard_id, "TRIM_HORIZON"))
        else:
            page = self._page(self._iterator(shard_id, "AT_SEQUENCE_NUMBER", cursor.last))
            if not cursor.agrees(page.get("Records", [])):
                log.warning("%s: the emulator rewrote %s (a cancelled transaction restored an older copy of the"
                            " table); reading it again from sequence number %s", self.name, shard_id, cursor.oldest)
                page = self._page(self._iterator(shard_id, "AT_SEQUENCE_NUMBER", cursor.oldest))
        cursor.iterator = page.get("NextShardIterator")
        return self._take(shard_id, cursor, page.get("Records", []))

    def _page(self, iterator: str) -> dict[str, Any]:
        return dict(self.streams.get_records(ShardIterator=iterator, Limit=self.source.batch_size))

    def _take(self, shard_id: str, cursor: ShardCursor, raw: list[dict[str, Any]]) -> int:
        new = cursor.take(raw)
        records = [r for r in (self._record(r) for r in new) if self._matches(r)]
        if records:
            self._deliver(shard_id, records)
        return len(new)

    def _matches(self, record: dict[str, Any]) -> bool:
        # moto types its pattern matcher for EventBridge events; it matches any JSON object, as Lambda's filters do
        return not self.filters or any(f.matches_event(record) for f in self.filters)  # type: ignore[arg-type]

    def _record(self, record: dict[str, Any]) -> dict[str, Any]:
        record = json.loads(json.dumps(record, default=_json_default))
        record.setdefault("eventSourceARN", self.source.stream_arn)
        record.setdefault("awsRegion", self.region)
        return record

    def _deliver(self, shard_id: str, records: list[dict[str, Any]]) -> None:
        """Retry a failing batch (bisecting it if asked) until it succeeds or runs out of attempts."""
        pending = [records]
        attempts = 0
        while pending:
            batch = pending.pop(0)
            outcome = self.invoke({"Records": batch})
            seqs = [r["dynamodb"]["SequenceNumber"] for r in batch]
            failed = _failed_ids(outcome, seqs, self.source.report_failures)
            if not failed:
                attempts = 0
                continue
            retry = batch[seqs.index(min(failed, key=int)) :]  # checkpoint: resume from the first failure
            attempts += 1
            time.sleep(min(0.05 * 2**attempts, 1.0))  # Lambda backs off between retries too
            exhausted = 0 <= self.source.max_retries < attempts
            if exhausted:
                self._give_up(shard_id, retry, outcome)
                attempts = 0
            elif self.source.bisect and not outcome.ok and len(retry) > 1:
                half = len(retry) // 2
                pending[:0] = [retry[:half], retry[half:]]
            else:
                pending.insert(0, retry)

    def _give_up(self, shard_id: str, batch: list[dict[str, Any]], outcome: Invocation) -> None:
        log.error("%s: giving up on %d records of %s", self.name, len(batch), shard_id)
        if not self.source.on_failure_arn:
            return
        info = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.source.function,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": self.source.max_retries + 1,
            },
            "responseContext": {"statusCode": 200, "functionError": (outcome.error or {}).get("errorType", "")},
            "version": "1.0",
            "timestamp": dt.datetime.now(dt.UTC).isoformat(),
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": batch[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": batch[-1]["dynamodb"]["SequenceNumber"],
                "batchSize": len(batch),
                "streamArn": self.source.stream_arn,
            },
        }
        url = self.sqs.get_queue_url(QueueName=self.source.on_failure_arn.rsplit(":", 1)[1])["QueueUrl"]
        self.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(info))


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, bytes | bytearray):
        import base64

        return base64.b64encode(value).decode()
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set):
        return sorted(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


_RATE = re.compile(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def schedule_seconds(expression: str) -> float:
    """Seconds between runs of a `rate(...)` expression (cron schedules need --schedule-interval)."""
    match = _RATE.fullmatch(expression.strip())
    if not match:
        raise ValueError(f"only rate() schedules run locally without --schedule-interval: {expression!r}")
    return int(match[1]) * _UNIT_SECONDS[match[2].rstrip("s")]


class ScheduleTimer:
    """Fires a Scheduled Event at the schedule's rate, or at the shortened local interval."""

    def __init__(
        self, source: ScheduleSource, invoke: Invoke, region: str, account: str, interval: float | None
    ) -> None:
        self.name = source.logical_id
        self.source, self.invoke, self.region, self.account = source, invoke, region, account
        self.interval = interval if interval is not None else schedule_seconds(source.expression)

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            self.invoke(self.event())

    def event(self) -> dict[str, Any]:
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self.account,
            "time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": [self.source.rule_arn],
            "detail": {},
        }
