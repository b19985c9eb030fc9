"""The caller's CPU per AWS call of a hot change: `python bench/client_cpu.py ENDPOINT_URL [ROUNDS]` prints it.

The hot suite's pipeline talks to stores kept in memory, so the shard CPU it measures holds none
of what a real client spends per call: building and signing the request, sending it, reading
and parsing the answer.  Here each kind of call a shard, or the dispatch that sends the shards,
makes is made against the emulator over HTTP, through the pipeline's own clients
(`SessionClients`: standard retries, its connection pool), with a body of the size it sends,
and this process's CPU time per call is taken (the median of rounds).  The emulator's work is
in its own process.  Over HTTP there is no TLS, which AWS adds, so these are a floor for the
client's part.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

ROUNDS = 7
CALLS_PER_ROUND = 20
TABLE, BUCKET, BUS, QUEUE = "bench-client-cpu", "bench-client-cpu", "bench-client-cpu", "bench-client-cpu"
BODY_BYTES = 11_000  # a snapshot body of the hot change (`bytes written/proxy`, less the pointer)
SHARD_MESSAGE_BYTES = 4_000  # a shard message of 100 proxies: the hot suite's sqs:SendMessageBatch bytes per shard


def _item(pk: str, sk: str, blob: int = 0) -> dict[str, Any]:
    """An item shaped like the table's: keys, a few strings and numbers, and a binary field of `blob` bytes."""
    item = {"pk": {"S": pk}, "sk": {"S": sk}, "key": {"S": f"snapshots/bench/virtualNode/{sk}/0123456789abcdef.snap"},
            "seq": {"N": "42"}, "versions": {"S": json.dumps({k: "0123456789abcdef" for k in "cerl"})},
            "updatedAt": {"S": "2026-01-01T00:00:00Z"}}
    if blob:
        item["deps"] = {"B": os.urandom(blob)}
    return item


def _calls(clients: Any) -> dict[str, Callable[[int], object]]:
    """One call of each kind, its argument a counter that keeps keys apart."""
    dynamodb, s3, events, sqs = clients.dynamodb, clients.s3, clients.events, clients.sqs
    queue = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    shards = [{"Id": str(i), "MessageBody": "x" * SHARD_MESSAGE_BYTES} for i in range(10)]
    keys = [{"pk": {"S": "PTR#bench"}, "sk": {"S": f"caller-{i:05d}"}} for i in range(100)]
    for start in range(0, 100, 25):
        dynamodb.batch_write_item(RequestItems={TABLE: [
            {"PutRequest": {"Item": _item("PTR#bench", k["sk"]["S"])}} for k in keys[start:start + 25]]})
    for i in range(4):
        dynamodb.put_item(TableName=TABLE, Item=_item("EP#bench#hot-canary", f"10.0.0.{i}"))
    body = os.urandom(BODY_BYTES)
    s3.put_object(Bucket=BUCKET, Key="snapshots/bench/last.snap", Body=body)  # a proxy's last snapshot, read back
    entries = [{"Source": "meshplane", "DetailType": "ConfigPublished", "EventBusName": BUS,
                "Detail": json.dumps({"nodeId": f"mesh/bench/virtualNode/caller-{i:05d}", "version": "0" * 16,
                                      "key": "snapshots/bench/virtualNode/x/0123456789abcdef.snap"})}
               for i in range(10)]
    return {
        "dynamodb:BatchGetItem": lambda n: dynamodb.batch_get_item(RequestItems={TABLE: {
            "Keys": keys, "ConsistentRead": True}}),
        "dynamodb:BatchWriteItem": lambda n: dynamodb.batch_write_item(RequestItems={TABLE: [
            {"PutRequest": {"Item": _item("IDX#bench", f"w{n}-{i}", blob=600)}} for i in range(25)]}),
        "dynamodb:PutItem": lambda n: dynamodb.put_item(
            TableName=TABLE, Item=_item("PTR#bench", f"p{n}"), ConditionExpression="attribute_not_exists(pk)"),
        "dynamodb:Query": lambda n: dynamodb.query(
            TableName=TABLE, KeyConditionExpression="pk = :pk", ConsistentRead=True,
            ExpressionAttributeValues={":pk": {"S": "EP#bench#hot-canary"}}),
        "events:PutEvents": lambda n: events.put_events(Entries=entries),
        "s3:PutObject": lambda n: s3.put_object(Bucket=BUCKET, Key=f"snapshots/bench/{n}.snap", Body=body,
                                                ContentType="application/octet-stream"),
        "s3:GetObject": lambda n: s3.get_object(Bucket=BUCKET, Key="snapshots/bench/last.snap")["Body"].read(),
        "sqs:SendMessageBatch": lambda n: sqs.send_message_batch(QueueUrl=queue, Entries=shards),
    }


def measure(clients: Any, rounds: int = ROUNDS) -> dict[str, float]:
    """The median over rounds of this process's CPU milliseconds per call, by `service:Operation`."""
    calls = _calls(clients)
    out = {}
    counter = 0
    for name, call in calls.items():
        call(counter)  # the first call of a kind loads its operation model: not what a warm shard pays
        samples = []
        for _ in range(rounds):
            started = time.process_time()
            for _ in range(CALLS_PER_ROUND):
                counter += 1
                call(counter)
            samples.append((time.process_time() - started) / CALLS_PER_ROUND * 1000)
        out[name] = statistics.median(samples)
    return out


def main(endpoint_url: str, rounds: int) -> None:
    os.environ.update({"AWS_ENDPOINT_URL": endpoint_url, "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"})
    from meshplane.config import Settings
    from meshplane.pipeline.wiring import SessionClients
    from meshplane.store import schema

    clients = SessionClients(Settings(table=TABLE, bucket=BUCKET, bus=BUS, region="us-east-1"))
    schema.create_table(clients.dynamodb, TABLE)
    clients.s3.create_bucket(Bucket=BUCKET)
    clients.events.create_event_bus(Name=BUS)
    print(json.dumps(measure(clients, rounds)))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else ROUNDS)
