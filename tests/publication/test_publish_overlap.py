"""The publisher's I/O that needs no order: the body written while a slow validator runs, bodies read back
from memory.  The pointer still waits for the validators, and a rejected snapshot is named by no pointer."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime
from io import StringIO
from typing import Any

import pytest
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics
from delivery.snapshots import snapshot
from meshplane.model.ids import ProxyId
from meshplane.pipeline.publish import Publisher, Status
from meshplane.pipeline.telemetry import Telemetry
from meshplane.publication.bucket import StoredObject
from meshplane.publication.layout import SNAPSHOT_PREFIX, pointer_key, snapshot_key
from meshplane.publication.written import WrittenBodies
from meshplane.snapshot.snapshot import Snapshot
from meshplane.store.index import DependencyIndex
from meshplane.store.pointers import PointerStore

from .conftest import BUCKET, TABLE

NODE = "mesh/shop/virtualNode/front"
PROXY = ProxyId.parse(NODE)
WAIT_S = 2.0


class CountingS3:
    """The S3 client's two object calls, counted, over moto's client."""

    def __init__(self, s3: Any) -> None:
        self._s3 = s3
        self.gets: list[str] = []
        self.put_started = threading.Event()

    def put_object(self, **kwargs: Any) -> Any:
        if kwargs["Key"].startswith(SNAPSHOT_PREFIX):
            self.put_started.set()
        return self._s3.put_object(**kwargs)

    def get_object(self, **kwargs: Any) -> Any:
        self.gets.append(kwargs["Key"])
        return self._s3.get_object(**kwargs)


class Events:
    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.entries.extend(Entries)
        return {"FailedEntryCount": 0}


class WaitsForTheBody:
    """A slow validator (as Envoy's is) that passes only if the body's write began while it ran."""

    slow = True
    skip_for_endpoints_only = True

    def __init__(self, problems: tuple[str, ...] = ()) -> None:
        self.problems = problems
        self.put_started = threading.Event()  # the S3 client's, once the publisher is made
        self.saw_the_body = False

    def __call__(self, _snapshot: Snapshot) -> list[str]:
        self.saw_the_body = self.put_started.wait(WAIT_S)
        return list(self.problems)


def publisher(aws: tuple[Any, Any], validator: Any) -> tuple[Publisher, CountingS3, Events, PointerStore]:
    s3, dynamodb = aws
    counting, events, pointers = CountingS3(s3), Events(), PointerStore(TABLE, dynamodb)
    telemetry = Telemetry(Logger(service=f"publish-{uuid.uuid4().hex}", stream=StringIO()), Tracer(disabled=True),
                          EphemeralMetrics(namespace="MeshplaneTest"))  # fmt: skip
    out = Publisher(bucket=BUCKET, bus="bus", s3=counting, events=events, pointers=pointers,
                    index=DependencyIndex(TABLE, dynamodb), validators=[validator], telemetry=telemetry)  # fmt: skip
    if isinstance(validator, WaitsForTheBody):
        validator.put_started = counting.put_started
    return out, counting, events, pointers


def test_the_body_is_written_while_a_slow_validator_runs_and_the_pointer_waits_for_both(aws: Any) -> None:
    s3, _ = aws
    validator = WaitsForTheBody()
    out, _, events, pointers = publisher(aws, validator)
    first = snapshot(NODE, "a")

    result = out.publish(PROXY, first, None, deps=(), endpoint_deps=())

    assert validator.saw_the_body  # the write began before the validator returned
    assert result.status is Status.PUBLISHED
    stored = pointers.get(NODE)
    assert stored is not None and stored.key == snapshot_key(PROXY, first.version)
    assert s3.get_object(Bucket=BUCKET, Key=stored.key)["Body"].read() == first.to_bytes()
    assert [e["DetailType"] for e in events.entries] == ["ConfigPublished"]


def test_a_snapshot_rejected_while_its_body_was_written_is_named_by_no_pointer(aws: Any) -> None:
    s3, _ = aws
    validator = WaitsForTheBody(problems=("envoy rejected the snapshot: bad",))
    out, _, events, pointers = publisher(aws, validator)

    result = out.publish(PROXY, snapshot(NODE, "a"), None, deps=(), endpoint_deps=())

    assert result.status is Status.REJECTED and result.problems == ("envoy rejected the snapshot: bad",)
    assert pointers.get(NODE) is None
    listed = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    assert all(o["Key"].startswith(SNAPSHOT_PREFIX) for o in listed)  # at most the unreferenced body
    assert events.entries == []


def test_a_fast_validator_writes_nothing_before_it_passes(aws: Any) -> None:
    def refuses(_snapshot: Snapshot) -> list[str]:
        return ["inconsistent"]

    out, counting, _, pointers = publisher(aws, refuses)

    assert out.publish(PROXY, snapshot(NODE, "a"), None, deps=(), endpoint_deps=()).status is Status.REJECTED
    assert not counting.put_started.is_set() and pointers.get(NODE) is None


def test_the_last_snapshot_published_is_read_back_without_a_get(aws: Any) -> None:
    out, counting, _, pointers = publisher(aws, lambda _s: [])
    first = snapshot(NODE, "a")
    out.publish(PROXY, first, None, deps=(), endpoint_deps=())

    previous = out.previous_snapshot(pointers.get(NODE))

    assert previous is not None and previous.to_bytes() == first.to_bytes()
    assert counting.gets == []


class Bucket:
    """An `Objects` edge in memory that counts its reads."""

    name = BUCKET

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.reads: list[str] = []

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.objects[key] = body

    def get(self, key: str, *, if_none_match: str = "") -> StoredObject | None:
        self.reads.append(key)
        return StoredObject(self.objects[key], "etag") if key in self.objects else None

    def listed(self, prefix: str) -> list[tuple[datetime, str]]:
        return []


def test_pointer_objects_and_conditional_reads_always_go_to_the_bucket() -> None:
    bucket = Bucket()
    written = WrittenBodies(bucket)
    body_key, pointer = snapshot_key(PROXY, "v1"), pointer_key(PROXY)
    written.put(body_key, b"body", "application/octet-stream")
    written.put(pointer, b"{}", "application/json")

    assert written.get(body_key) == StoredObject(b"body")
    assert bucket.reads == []
    assert written.get(pointer) == StoredObject(b"{}", "etag")
    assert written.get(body_key, if_none_match="etag") is not None
    assert bucket.reads == [pointer, body_key]


@pytest.mark.parametrize("limit", [10, 25])
def test_written_bodies_are_kept_up_to_the_byte_bound_oldest_dropped_first(limit: int) -> None:
    bucket = Bucket()
    written = WrittenBodies(bucket, limit_bytes=limit)
    keys = [snapshot_key(PROXY, f"v{i}") for i in range(3)]
    for key in keys:
        written.put(key, b"x" * 10, "application/octet-stream")
    written.put(snapshot_key(PROXY, "huge"), b"x" * (limit + 1), "application/octet-stream")

    for key in keys:
        written.get(key)
    kept = limit // 10
    assert bucket.reads == keys[: 3 - kept]  # the newest `kept` bodies were in memory
    written.get(snapshot_key(PROXY, "huge"))
    assert bucket.reads[-1] == snapshot_key(PROXY, "huge")
