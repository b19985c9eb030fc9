"""The stream poller follows a shard that the emulator rewrote, losing and repeating no record.

Against plain moto, which rewrites the shard on every cancelled transaction: it puts back a
copy of the table, so iterators handed out before follow a shard that never grows again,
and the next writes reuse the sequence numbers of the cancelled ones. The records of the
cancelled writes may be read before the rewrite and cannot be recalled: local up's own
emulator never writes them (test_emulator).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from meshplane.local.invoker import Invocation
from meshplane.local.plan import StreamSource
from meshplane.local.sources import StreamPoller

Connect = Callable[[str, str], Any]
BOUND = 3.0  # seconds from a write to its delivery: the resync interval (1 s) and room for a busy machine


class Poller:
    """A StreamPoller running in a thread, and every record it delivered."""

    def __init__(self, endpoint: str, connect: Connect, table: str) -> None:
        self.table = table
        arn = connect(endpoint, "dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
        source = StreamSource(logical_id="Recompute", function="Recompute", stream_arn=arn, batch_size=100,
                              starting_position="LATEST", report_failures=False, bisect=False, max_retries=-1,
                              on_failure_arn=None, filters=())  # fmt: skip
        self.delivered: list[dict[str, Any]] = []
        self.poller = StreamPoller(source, connect(endpoint, "dynamodbstreams"), None, self._invoke, "us-east-1",
                                   interval=0.05)  # fmt: skip
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.poller.run, args=(self.stop,), daemon=True)

    def _invoke(self, event: dict[str, Any]) -> Invocation:
        self.delivered.extend(event["Records"])
        return Invocation(result=None)

    def delivered_keys(self) -> list[str]:
        return [r["dynamodb"]["Keys"]["pk"]["S"] for r in self.delivered]

    def wait_for(self, pk: str, timeout: float) -> float:
        started = time.monotonic()
        while pk not in self.delivered_keys():
            assert time.monotonic() - started < timeout, f"{pk} not within {timeout}s: {self.delivered_keys()}"
            time.sleep(0.02)
        return time.monotonic() - started


def _running(endpoint: str, connect: Connect) -> Iterator[Poller]:
    table = f"t-{uuid.uuid4().hex[:8]}"
    connect(endpoint, "dynamodb").create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )  # fmt: skip
    running = Poller(endpoint, connect, table)
    running.thread.start()
    try:
        yield running
    finally:
        running.stop.set()
        running.thread.join(5)


@pytest.fixture
def poller(plain_moto: str, connect: Connect) -> Iterator[Poller]:
    yield from _running(plain_moto, connect)


@pytest.fixture
def own_poller(own_moto: str, connect: Connect) -> Iterator[Poller]:
    yield from _running(own_moto, connect)


def test_after_cancelled_transactions_every_new_record_is_delivered_once_within_the_resync_time(
    poller: Poller, plain_moto: str, connect: Connect
) -> None:
    ddb, table = connect(plain_moto, "dynamodb"), poller.table
    ddb.put_item(TableName=table, Item={"pk": {"S": "before"}})
    poller.wait_for("before", 2)
    for round_ in range(2):  # the second one rewrites the shard the poller anchored on after the first
        with pytest.raises(ClientError):
            ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": table, "Item": {"pk": {"S": f"cancelled-{round_}"}}}},
                {"ConditionCheck": {"TableName": table, "Key": {"pk": {"S": "absent"}},
                                    "ConditionExpression": "attribute_exists(pk)"}},
            ])  # fmt: skip
        ddb.put_item(TableName=table, Item={"pk": {"S": f"after-{round_}"}})
        took = poller.wait_for(f"after-{round_}", BOUND)
        print(f"after-{round_} delivered {took:.2f}s after its write")
    ids = [r["eventID"] for r in poller.delivered]
    assert len(ids) == len(set(ids)), "a record was delivered twice"
    assert [k for k in poller.delivered_keys() if not k.startswith("cancelled-")] == ["before", "after-0", "after-1"]


def test_an_iterator_the_emulator_no_longer_honours_is_replaced_at_the_last_record_read(
    own_poller: Poller, own_moto: str, connect: Connect
) -> None:
    """The emulator expires iterators after 15 minutes, as AWS does (a machine that slept that long)."""
    ddb, table = connect(own_moto, "dynamodb"), own_poller.table
    ddb.put_item(TableName=table, Item={"pk": {"S": "before"}})
    own_poller.wait_for("before", 2)
    with pytest.raises(ClientError) as expired:
        connect(own_moto, "dynamodbstreams").get_records(ShardIterator="no-longer-issued")
    assert expired.value.response["Error"]["Code"] == "ExpiredIteratorException"
    for cursor in own_poller.poller.shards.values():
        cursor.iterator = "no-longer-issued"
    ddb.put_item(TableName=table, Item={"pk": {"S": "after"}})
    own_poller.wait_for("after", BOUND)
    assert own_poller.delivered_keys() == ["before", "after"]


class IdleStream:
    """A stream client with one shard that never gets a record; counts the reads."""

    def __init__(self) -> None:
        self.reads = 0

    def describe_stream(self, **_: Any) -> dict[str, Any]:
        return {"StreamDescription": {"Shards": [{"ShardId": "shard-0"}]}}

    def get_shard_iterator(self, **_: Any) -> dict[str, Any]:
        return {"ShardIterator": "iterator"}

    def get_records(self, **_: Any) -> dict[str, Any]:
        self.reads += 1
        return {"Records": [], "NextShardIterator": "iterator"}


def test_an_idle_stream_is_read_at_lambdas_rate_not_at_the_busy_interval() -> None:
    """With nothing on the stream, reads slow from the 0.05 s busy interval to Lambda's four a second."""
    streams = IdleStream()
    source = StreamSource(logical_id="Recompute", function="Recompute", stream_arn="arn:stream", batch_size=100,
                          starting_position="LATEST", report_failures=False, bisect=False, max_retries=-1,
                          on_failure_arn=None, filters=())  # fmt: skip
    poller = StreamPoller(source, streams, None, lambda event: Invocation(result=None), "us-east-1", interval=0.05)
    stop = threading.Event()
    thread = threading.Thread(target=poller.run, args=(stop,), daemon=True)
    thread.start()
    time.sleep(2.0)
    stop.set()
    poller.wake.set()
    thread.join(timeout=5)
    # 2 s at four a second, the ramp from 0.05 s and a resync each second: at most 16 (at 0.05 s: 40 and more)
    assert 0 < streams.reads <= 16
