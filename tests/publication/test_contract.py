"""The published-storage wire formats, pinned: deployed stacks and stored snapshots depend on them.

S3 keys (named by IAM policies and the lifecycle rule), the pointer object, the
ConfigPublished detail and the table's pointer item are written by one release and
read by another, so each is compared with its exact bytes, not with what the same
code reads back.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from meshplane.model.ids import Kind, ProxyId
from meshplane.publication.event import ConfigPublished
from meshplane.publication.layout import pointer_key, proxy_of_pointer_key, snapshot_key
from meshplane.publication.pointer import Pointer, pointer_document, pointer_from_document
from meshplane.store.pointers import PointerStore
from pydantic import ValidationError

from .conftest import TABLE

NODE = ProxyId("shop", Kind.VIRTUAL_NODE, "front")
GATEWAY = ProxyId("shop", Kind.VIRTUAL_GATEWAY, "edge")
VERSIONS = {"clusters": "c1", "endpoints": "e1", "listeners": "l1", "routes": "r1", "secrets": "s1"}


def test_snapshot_and_pointer_keys_keep_their_layout() -> None:
    assert snapshot_key(NODE, "0123abcd") == "snapshots/shop/virtualNode/front/0123abcd.snap"
    assert snapshot_key(GATEWAY, "0123abcd") == "snapshots/shop/virtualGateway/edge/0123abcd.snap"
    assert pointer_key(NODE) == "pointers/shop/virtualNode/front.json"
    assert pointer_key(GATEWAY) == "pointers/shop/virtualGateway/edge.json"


def test_pointer_keys_map_back_to_their_proxies_and_nothing_else_does() -> None:
    assert proxy_of_pointer_key(pointer_key(NODE)) == NODE
    assert proxy_of_pointer_key(pointer_key(GATEWAY)) == GATEWAY
    assert proxy_of_pointer_key("pointers/shop/virtualRouter/r.json") is None
    assert proxy_of_pointer_key("pointers/shop/front.json") is None
    assert proxy_of_pointer_key(snapshot_key(NODE, "v")) is None


def test_the_pointer_object_keeps_its_bytes() -> None:
    first = Pointer("v1", "snapshots/shop/virtualNode/front/v1.snap", versions={"clusters": "c1"})
    assert pointer_document(first) == (
        b'{"version": "v1", "key": "snapshots/shop/virtualNode/front/v1.snap", "versions": {"clusters": "c1"}}'
    )
    later = Pointer("v2", "snapshots/k2.snap", versions={"clusters": "c2"}, previous_key="snapshots/k1.snap",
                    etag='"e"', seq=7, certificates={"arn:aws:acm:x": "stamp"})  # fmt: skip
    assert pointer_document(later) == (  # only the bucket's fields: etag, seq and certificates stay out
        b'{"version": "v2", "key": "snapshots/k2.snap", "versions": {"clusters": "c2"}, '
        b'"previous": {"key": "snapshots/k1.snap"}}'
    )


def test_a_pointer_object_reads_back_with_its_etag() -> None:
    later = Pointer("v2", "snapshots/k2.snap", versions={"clusters": "c2"}, previous_key="snapshots/k1.snap")
    assert pointer_from_document(pointer_document(later), '"e"') == Pointer(
        "v2", "snapshots/k2.snap", versions={"clusters": "c2"}, previous_key="snapshots/k1.snap", etag='"e"'
    )
    assert pointer_from_document(b'{"version": "v", "key": "k"}') == Pointer("v", "k")  # the oldest form
    for broken in (b"[]", b'{"version": "v"}', b"not json"):
        with pytest.raises((ValueError, KeyError, TypeError)):
            pointer_from_document(broken)


EVENT = ConfigPublished(node_id=NODE.path, mesh="shop", version="v2", bucket="snapshots-bucket",
                        key="snapshots/shop/virtualNode/front/v2.snap", versions=VERSIONS,
                        changed_types=("clusters", "endpoints"))  # fmt: skip
DETAIL = (
    '{"bucket": "snapshots-bucket", "changedTypes": ["clusters", "endpoints"], "key": '
    '"snapshots/shop/virtualNode/front/v2.snap", "mesh": "shop", "nodeId": "mesh/shop/virtualNode/front", '
    '"version": "v2", "versions": {"clusters": "c1", "endpoints": "e1", "listeners": "l1", "routes": "r1", '
    '"secrets": "s1"}}'
)


def test_the_config_published_entry_keeps_its_source_type_and_detail_bytes() -> None:
    assert EVENT.entry("mesh-bus") == {
        "Source": "meshplane.pipeline", "DetailType": "ConfigPublished", "EventBusName": "mesh-bus", "Detail": DETAIL,
    }  # fmt: skip


def test_config_published_is_read_from_sqs_raw_or_in_an_sns_envelope() -> None:
    delivered = json.dumps({"version": "0", "id": "1", "source": "meshplane.pipeline",
                            "detail-type": "ConfigPublished", "detail": json.loads(DETAIL)})  # fmt: skip
    assert ConfigPublished.from_message(delivered) == EVENT
    assert ConfigPublished.from_message(json.dumps({"Type": "Notification", "Message": delivered})) == EVENT
    assert ConfigPublished.from_message(EVENT.message()) == EVENT
    newer = json.loads(delivered)
    newer["detail"]["addedLater"] = 1  # a newer publisher's field: ignored, not refused
    assert ConfigPublished.from_message(json.dumps(newer)) == EVENT


def test_other_events_are_none_and_broken_ones_raise() -> None:
    assert ConfigPublished.from_message(json.dumps({"detail-type": "Scheduled Event", "detail": {}})) is None
    without_node = json.loads(DETAIL)
    del without_node["nodeId"]
    for body in ("[]", "nope", json.dumps({"detail-type": "ConfigPublished"}),
                 json.dumps({"detail-type": "ConfigPublished", "detail": without_node}),
                 json.dumps({"Type": "Notification", "Message": {"detail-type": "ConfigPublished"}})):  # fmt: skip
        with pytest.raises((ValueError, TypeError, ValidationError)):
            ConfigPublished.from_message(body)


def test_the_pointer_item_keeps_its_attributes(aws: tuple[Any, Any]) -> None:
    _, dynamodb = aws
    store = PointerStore(TABLE, dynamodb, clock=lambda: 1_700_000_000.5)
    first = store.advance(None, NODE.path, Pointer("v1", "snapshots/k1.snap", versions={"clusters": "c1"}))
    store.advance(first, NODE.path, Pointer("v2", "snapshots/k2.snap", versions={"clusters": "c2"},
                                            certificates={"arn:aws:acm:x": "stamp"},
                                            previous_key="snapshots/k1.snap"))  # fmt: skip
    key = {"pk": {"S": "PROXY#mesh/shop/virtualNode/front"}, "sk": {"S": "POINTER"}}
    item = dynamodb.get_item(TableName=TABLE, Key=key)["Item"]
    assert item == {
        **key,
        "version": {"S": "v2"},
        "key": {"S": "snapshots/k2.snap"},
        "versions": {"M": {"clusters": {"S": "c2"}}},
        "seq": {"N": "2"},
        "publishedAt": {"N": "1700000000"},
        "certificates": {"M": {"arn:aws:acm:x": {"S": "stamp"}}},
        "previousKey": {"S": "snapshots/k1.snap"},
    }
    assert store.get(NODE.path) == Pointer("v2", "snapshots/k2.snap", versions={"clusters": "c2"}, seq=2,
                                           certificates={"arn:aws:acm:x": "stamp"},
                                           previous_key="snapshots/k1.snap")  # fmt: skip
