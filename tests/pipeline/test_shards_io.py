"""The shard function's batched writes (`pipeline.shard_io`), against fake clients: sizes, failures, retries."""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics
from meshplane.pipeline.shard_io import BatchedIndex, EventBatch
from meshplane.pipeline.telemetry import Telemetry
from meshplane.store.index import IndexEntry


class Bus:
    """PutEvents refusing the entries whose detail names a node in `refused`."""

    def __init__(self, refused: frozenset[str] = frozenset()) -> None:
        self.calls: list[list[str]] = []
        self.refused = refused

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        nodes = [json.loads(e["Detail"])["nodeId"] for e in Entries]
        self.calls.append(nodes)
        results = [{"ErrorCode": "InternalFailure"} if n in self.refused else {"EventId": n} for n in nodes]
        return {"FailedEntryCount": sum(n in self.refused for n in nodes), "Entries": results}


def entry(node: str) -> dict[str, Any]:
    return {"Source": "meshplane.pipeline", "DetailType": "ConfigPublished", "Detail": json.dumps({"nodeId": node})}


def telemetry() -> tuple[Telemetry, io.StringIO]:
    log = io.StringIO()  # a logger of its own: Powertools keeps the first stream a service name was given
    return Telemetry(Logger(service=f"shard-io-{uuid.uuid4().hex}", stream=log), Tracer(disabled=True),
                     EphemeralMetrics(namespace="MeshplaneTest")), log


def test_events_go_out_in_calls_of_ten_as_they_fill_and_the_rest_on_flush() -> None:
    bus = Bus()
    batch = EventBatch(bus, telemetry()[0])
    for i in range(23):
        assert batch.put_events(Entries=[entry(f"n{i:02d}")]) == {"FailedEntryCount": 0, "Entries": []}
    assert [len(c) for c in bus.calls] == [10, 10]  # sent as each batch filled, not held to the end
    batch.flush()
    batch.flush()  # nothing held: no call
    assert [len(c) for c in bus.calls] == [10, 10, 3]
    assert [n for c in bus.calls for n in c] == [f"n{i:02d}" for i in range(23)]


def test_entries_the_bus_refused_are_counted_and_logged_with_their_detail() -> None:
    bus = Bus(refused=frozenset({"n1"}))
    t, log = telemetry()
    batch = EventBatch(bus, t)
    batch.put_events(Entries=[entry("n0"), entry("n1"), entry("n2")])
    batch.flush()
    assert t.metrics.metric_set["ConfigPublishedFailed"]["Value"] == [1.0]
    (logged,) = [json.loads(line) for line in log.getvalue().splitlines()]
    assert logged["message"] == "ConfigPublished not accepted by the bus"
    assert [json.loads(e["detail"])["nodeId"] for e in logged["entries"]] == ["n1"]


class Table:
    """BatchWriteItem that hands back the last item of each of its first `throttled` calls unprocessed."""

    def __init__(self, throttled: int = 0) -> None:
        self.calls: list[list[str]] = []
        self.throttled = throttled

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        (requests,) = RequestItems.values()
        self.calls.append([r["PutRequest"]["Item"]["sk"]["S"] for r in requests])
        if self.throttled:
            self.throttled -= 1
            return {"UnprocessedItems": {"state": requests[-1:]}}
        return {"UnprocessedItems": {}}


def test_index_entries_are_written_in_calls_of_25_and_unprocessed_ones_again() -> None:
    table = Table(throttled=1)
    index = BatchedIndex("state", table)
    paths = [f"mesh/m/virtualNode/n{i:02d}" for i in range(30)]
    for path in paths:
        assert index.put("m", path, ["mesh/m"], ["n"])
    assert table.calls == [paths[:25], paths[24:25]]  # the throttled item again, alone
    index.flush()
    assert table.calls[2:] == [paths[25:]]


def test_an_entry_as_last_read_is_not_written_and_a_repeated_one_once() -> None:
    table = Table()
    index = BatchedIndex("state", table)
    index._read["m"] = {"mesh/m/virtualNode/a": IndexEntry("mesh/m/virtualNode/a", frozenset({"x"}), frozenset())}
    assert not index.put("m", "mesh/m/virtualNode/a", ["x"], [])
    index.put("m", "mesh/m/virtualNode/b", ["x"], [])
    index.put("m", "mesh/m/virtualNode/b", ["y"], [])  # a retried round publishes it again
    index.flush()
    assert table.calls == [["mesh/m/virtualNode/b"]]
