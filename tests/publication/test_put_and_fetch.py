"""Put, pointer and fetch through `SnapshotBucket`: the publish order, and how reads sort failures.

The order is the contract's guarantee: a pointer never names a missing body, and an
event never announces a pointer that did not move.  Reads run against in-process moto;
the failures moto cannot produce (throttling, access denied) come from botocore's Stubber.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from botocore.stub import Stubber
from delivery.snapshots import assignment, snapshot
from meshplane.delivery.source import DynamoDbPointers
from meshplane.model.ids import ProxyId
from meshplane.publication.bucket import SnapshotBucket, SourceUnavailable, StoredObject
from meshplane.publication.event import ConfigPublished
from meshplane.publication.layout import pointer_key, snapshot_key
from meshplane.publication.pointer import Pointer
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.types import XdsType
from meshplane.store.pointers import PointerConflict, PointerStore
from meshplane.store.s3objects import snapshot_bucket

from .conftest import BUCKET, TABLE

NODE = "mesh/shop/virtualNode/front"
PROXY = ProxyId.parse(NODE)


class Recorder:
    """An `Objects` edge in memory that logs every step, with the advance and the announce, in one list."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, str]] = []
        self.objects: dict[str, bytes] = {}
        self.events: list[ConfigPublished] = []

    name = BUCKET

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.steps.append(("put", f"{key} {content_type}"))
        self.objects[key] = body

    def get(self, key: str, *, if_none_match: str = "") -> StoredObject | None:
        return StoredObject(self.objects[key]) if key in self.objects else None

    def listed(self, prefix: str) -> list[tuple[datetime, str]]:
        return []

    def advance(self, pointer: Pointer) -> Pointer:
        self.steps.append(("advance", pointer.key))
        return pointer

    def announce(self, event: ConfigPublished) -> None:
        self.steps.append(("announce", event.key))
        self.events.append(event)


def with_endpoints(base: Snapshot, address: str) -> Snapshot:
    resources = {kind: dict(base.of(kind)) for kind in XdsType}
    resources[XdsType.ENDPOINTS] = {name: assignment(name, address) for name in resources[XdsType.ENDPOINTS]}
    return Snapshot.build(base.node_id, resources)


def test_put_writes_the_body_then_moves_the_pointer_then_announces() -> None:
    edge, first = Recorder(), snapshot(NODE, "a")
    published = SnapshotBucket(edge).put(PROXY, first, None, advance=edge.advance, announce=edge.announce)
    body_key = snapshot_key(PROXY, first.version)
    assert edge.steps == [
        ("put", f"{body_key} application/octet-stream"),
        ("advance", body_key),
        ("put", f"{pointer_key(PROXY)} application/json"),
        ("announce", body_key),
    ]
    assert edge.objects[body_key] == first.to_bytes() and published.size == len(first.to_bytes())
    assert published.event == ConfigPublished(
        node_id=NODE, mesh="shop", version=first.version, bucket=BUCKET, key=body_key,
        versions={k.value: v for k, v in first.versions.items()},
        changed_types=("secrets", "clusters", "endpoints", "listeners", "routes"),
    )  # fmt: skip


def test_a_pointer_that_moved_meanwhile_leaves_only_an_unreferenced_body() -> None:
    edge = Recorder()

    def conflict(_pointer: Pointer) -> Pointer:
        raise PointerConflict(NODE)

    with pytest.raises(PointerConflict):
        SnapshotBucket(edge).put(PROXY, snapshot(NODE, "a"), None, advance=conflict, announce=edge.announce)
    assert list(edge.objects) == [snapshot_key(PROXY, snapshot(NODE, "a").version)]
    assert edge.events == []


def test_the_pointer_remembers_the_last_snapshot_with_other_clusters_and_events_name_what_changed() -> None:
    edge = Recorder()
    bucket = SnapshotBucket(edge)
    a, b = snapshot(NODE, "a"), snapshot(NODE, "b")
    first = bucket.put(PROXY, a, None, advance=edge.advance, announce=edge.announce).pointer
    second = bucket.put(PROXY, b, first, advance=edge.advance, announce=edge.announce).pointer
    assert second.previous_key == first.key  # b has other clusters: an Envoy reconnecting may still hold a's
    moved = with_endpoints(b, "10.0.0.9")
    third = bucket.put(PROXY, moved, second, advance=edge.advance, announce=edge.announce)
    assert third.pointer.previous_key == first.key, "the clusters stayed: the older snapshot is carried forward"
    assert third.event.changed_types == ("endpoints",)
    assert bucket.pointer(PROXY) == Pointer(moved.version, third.pointer.key, versions=third.event.versions,
                                            previous_key=first.key)  # fmt: skip


def test_certificates_reach_the_advance_but_not_the_bucket() -> None:
    edge = Recorder()
    published = SnapshotBucket(edge).put(PROXY, snapshot(NODE, "a"), None, advance=edge.advance,
                                         announce=edge.announce, certificates={"arn:aws:acm:x": "stamp"})  # fmt: skip
    assert published.pointer.certificates == {"arn:aws:acm:x": "stamp"}  # what the advance was given
    assert b"stamp" not in edge.objects[pointer_key(PROXY)]


def publish(s3: Any, dynamodb: Any, published: Snapshot) -> Pointer:
    """Publish as the pipeline does: the table's pointer advanced, the bucket written."""
    store = PointerStore(TABLE, dynamodb)
    previous = store.get(NODE)
    return snapshot_bucket(s3, BUCKET).put(PROXY, published, previous, announce=lambda _e: None,
                                           advance=lambda p: store.advance(previous, NODE, p)).pointer  # fmt: skip


def test_what_is_put_is_fetched_back_whole(aws: tuple[Any, Any]) -> None:
    s3, dynamodb = aws
    published = snapshot(NODE, "a")
    publish(s3, dynamodb, published)
    bucket = snapshot_bucket(s3, BUCKET)
    pointer = bucket.pointer(PROXY)
    assert pointer is not None and pointer.version == published.version and pointer.etag
    fetched = bucket.fetch(pointer)
    assert fetched.versions == published.versions and fetched.to_bytes() == published.to_bytes()
    assert bucket.pointer(PROXY, if_none_match=pointer.etag) is None  # unchanged since: S3 answers 304
    assert bucket.recent_proxies(5) == [PROXY] and bucket.recent_proxies(0) == []


def test_a_missing_pointer_is_none_and_an_unreadable_one_is_unavailable(aws: tuple[Any, Any]) -> None:
    s3, _ = aws
    bucket = snapshot_bucket(s3, BUCKET)
    assert bucket.pointer(PROXY) is None
    assert bucket.pointer(ProxyId.parse(f"mesh/shop/virtualNode/{'n' * 1100}")) is None  # too long for a key
    s3.put_object(Bucket=BUCKET, Key=pointer_key(PROXY), Body=b'{"version": "v"}')
    with pytest.raises(SourceUnavailable):
        bucket.pointer(PROXY)


def test_a_pointer_to_a_missing_or_damaged_body_is_unavailable(aws: tuple[Any, Any]) -> None:
    s3, dynamodb = aws
    pointer = publish(s3, dynamodb, snapshot(NODE, "a"))
    bucket = snapshot_bucket(s3, BUCKET)
    s3.put_object(Bucket=BUCKET, Key=pointer.key, Body=snapshot(NODE, "a").to_bytes() + b"junk")
    with pytest.raises(SourceUnavailable, match="snapshot"):
        bucket.fetch(pointer)
    s3.delete_object(Bucket=BUCKET, Key=pointer.key)
    with pytest.raises(SourceUnavailable, match="missing"):
        bucket.fetch(pointer)


@pytest.mark.parametrize("code, status", [("SlowDown", 503), ("AccessDenied", 403), ("InternalError", 500)])
def test_a_store_that_refuses_or_fails_is_unavailable_not_empty(aws: tuple[Any, Any], code: str,
                                                                 status: int) -> None:
    s3, _ = aws
    with Stubber(s3) as stub:
        stub.add_client_error("get_object", service_error_code=code, http_status_code=status)
        with pytest.raises(SourceUnavailable, match=code):
            snapshot_bucket(s3, BUCKET).pointer(PROXY)


def test_the_table_source_reads_the_item_and_falls_back_to_the_bucket(aws: tuple[Any, Any]) -> None:
    s3, dynamodb = aws
    source = DynamoDbPointers(s3, BUCKET, dynamodb, TABLE)
    assert source.pointer(PROXY) is None
    stored = publish(s3, dynamodb, snapshot(NODE, "a"))
    read = source.pointer(PROXY)
    assert read == stored and read.seq == 1  # the item, not the bucket object (which has an ETag and no seq)
    assert source.fetch(read).version == snapshot(NODE, "a").version
    dynamodb.delete_item(TableName=TABLE, Key={"pk": {"S": f"PROXY#{NODE}"}, "sk": {"S": "POINTER"}})
    from_bucket = source.pointer(PROXY)
    assert from_bucket is not None and from_bucket.etag and from_bucket.key == stored.key


def test_a_key_no_item_can_have_is_unpublished_without_asking_the_bucket(aws: tuple[Any, Any]) -> None:
    s3, dynamodb = aws
    with Stubber(dynamodb) as table, Stubber(s3):  # the bucket's Stubber refuses any call
        table.add_client_error("get_item", service_error_code="ValidationException", http_status_code=400)
        assert DynamoDbPointers(s3, BUCKET, dynamodb, TABLE).pointer(PROXY) is None


def test_the_table_source_is_unavailable_when_the_table_is(aws: tuple[Any, Any]) -> None:
    s3, dynamodb = aws
    with Stubber(dynamodb) as stub:
        stub.add_client_error("get_item", service_error_code="ProvisionedThroughputExceededException",
                              http_status_code=400)  # fmt: skip
        with pytest.raises(SourceUnavailable, match="ProvisionedThroughputExceeded"):
            DynamoDbPointers(s3, BUCKET, dynamodb, TABLE).pointer(PROXY)
