"""The caller's CPU per AWS call of a hot change: `python bench/client_cpu.py ENDPOINT_URL [ROUNDS]` prints it.

The hot suite's pipeline talks to stores kept in memory, so the shard CPU it measures holds none
of what a real client spends per call: building and signing the request, sending it, reading
and parsing the answer.  Here each kind of call a shard, or the dispatch that sends the shards,
makes is made against the emulator over HTTP, through the pipeline's own clients
(`SessionClients`: standard retries, its connection pool), with a body of the size it sends,
and this process's CPU time per call is taken (the median of rounds).  Where the stand-ins also
skip production's conversion of what a call returns (a whole listing's 1 MB pages of resources
or index entries, a batch of resources), that conversion is timed with the call.  The emulator's work is
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
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

ROUNDS = 7
CALLS_PER_ROUND = 20
TABLE, BUCKET, BUS, QUEUE = "bench-client-cpu", "bench-client-cpu", "bench-client-cpu", "bench-client-cpu"
BODY_BYTES = 11_000  # a snapshot body of the hot change (`bytes written/proxy`, less the pointer)
PAGE_MESH_NODES = 2_000  # the hot mesh whose resources and index fill more than one 1 MB Query page each
INDEX_COPIES = 4  # entries written per proxy of that mesh, under names of their own
PAGE_CALLS = 3  # calls per round of a kind that returns a whole page
SHARD_MESSAGE_BYTES = 4_000  # a shard message of 100 proxies: the hot suite's sqs:SendMessageBatch bytes per shard


def _item(pk: str, sk: str, blob: int = 0) -> dict[str, Any]:
    """An item shaped like the table's: keys, a few strings and numbers, and a binary field of `blob` bytes."""
    item = {"pk": {"S": pk}, "sk": {"S": sk}, "key": {"S": f"snapshots/bench/virtualNode/{sk}/0123456789abcdef.snap"},
            "seq": {"N": "42"}, "versions": {"S": json.dumps({k: "0123456789abcdef" for k in "cerl"})},
            "updatedAt": {"S": "2026-01-01T00:00:00Z"}}
    if blob:
        item["deps"] = {"B": os.urandom(blob)}
    return item


def _listed(dynamodb: Any) -> tuple[Callable[[int], object], Callable[[int], object], Callable[[int], object]]:
    """A whole-partition Query's 1 MB page of the hot mesh's resources and one of its index, each with the conversion
    production makes of every item it returns (`resources._plain`, a warm `index.ParsedEntries`), which the hot
    suite's stand-in stores skip; and a BatchGetItem of 100 resources with the same conversion."""
    import suite_hot_pipeline as hot
    from boto3.dynamodb.types import TypeSerializer
    from meshplane.graph import proxies
    from meshplane.pipeline.ports import ModuleGraph
    from meshplane.store.index import IndexEntry, ParsedEntries, item_of_entry
    from meshplane.store.resources import _plain

    state = hot.hot_states(PAGE_MESH_NODES)[0]
    typed = TypeSerializer().serialize
    resources = [{name: typed(value) for name, value in item.items()} for item in hot.stored_items(state)]
    graph = ModuleGraph()
    entries = []
    for proxy in proxies(state):
        deps, endpoint_deps = graph.dependency_paths(state, proxy)
        for copy in range(INDEX_COPIES):  # entries compress well: one page takes more of them than the mesh has
            entry = IndexEntry(f"{proxy.path}-{copy}", deps, endpoint_deps)
            entries.append(item_of_entry(state.name, entry))
    for items in (resources, entries):
        for start in range(0, len(items), 25):
            batch = [{"PutRequest": {"Item": item}} for item in items[start:start + 25]]
            dynamodb.batch_write_item(RequestItems={TABLE: batch})

    def page(pk: str, convert: Callable[[Any], object]) -> Callable[[int], object]:
        def call(n: int) -> object:
            found = dynamodb.query(TableName=TABLE, KeyConditionExpression="pk = :pk", ConsistentRead=True,
                                   ExpressionAttributeValues={":pk": {"S": pk}})
            if "LastEvaluatedKey" not in found:
                raise ValueError(f"the partition {pk} fits one page: not a full 1 MB page")
            return [convert(item) for item in found["Items"]]
        return call

    keys = [{"pk": item["pk"], "sk": item["sk"]} for item in resources[:100]]

    def batch(n: int) -> object:
        found = dynamodb.batch_get_item(RequestItems={TABLE: {"Keys": keys, "ConsistentRead": True}})
        return [_plain(item) for item in found["Responses"][TABLE]]

    # a warm container's index parses an entry again only when it was rewritten (`index.ParsedEntries`)
    return page(resources[0]["pk"]["S"], _plain), page(entries[0]["pk"]["S"], ParsedEntries().entry), batch


def _calls(clients: Any) -> dict[str, Callable[[int], object]]:
    """One call of each kind, its argument a counter that keeps keys apart."""
    dynamodb, s3, events, sqs = clients.dynamodb, clients.s3, clients.events, clients.sqs
    resource_page, index_page, resources = _listed(dynamodb)
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
        "dynamodb:Query, resource page": resource_page,
        "dynamodb:Query, index page": index_page,
        "dynamodb:BatchGetItem, resources": resources,
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
            calls_per_round = PAGE_CALLS if "page" in name else CALLS_PER_ROUND
            for _ in range(calls_per_round):
                counter += 1
                call(counter)
            samples.append((time.process_time() - started) / calls_per_round * 1000)
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
