"""The store on its own (in-process moto): layout, mesh state, stream decoding, atomic rules."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from meshplane.model import shapes
from meshplane.model.ids import Kind, ResourceKey
from meshplane.store import ResourceStore, create_table, decode_image, decode_stream_record
from meshplane.store.errors import Conflict, LimitExceeded, NotFound, ResourceInUse
from meshplane.store.limits import Limits
from moto import mock_aws

MESH = ResourceKey(Kind.MESH, "m", "m")
NODE = ResourceKey(Kind.VIRTUAL_NODE, "m", "n")
ROUTER = ResourceKey(Kind.VIRTUAL_ROUTER, "m", "r")
ROUTE = ResourceKey(Kind.ROUTE, "m", "rt", "r")


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, "state")
        yield client


@pytest.fixture
def store(dynamodb: Any) -> ResourceStore:
    clock = iter(datetime(2025, 1, 1, 0, 0, s, tzinfo=UTC) for s in range(60))
    return ResourceStore("state", dynamodb, limits=Limits(routes_per_router=1), clock=lambda: next(clock))


def _route() -> shapes.RouteSpec:
    return shapes.RouteSpec.model_validate(
        {"tcpRoute": {"action": {"weightedTargets": [{"virtualNode": "n", "weight": 1}]}}}
    )


def _populate(store: ResourceStore) -> None:
    store.create(MESH, shapes.MeshSpec())
    store.create(NODE, shapes.VirtualNodeSpec())
    store.create(ROUTER, shapes.VirtualRouterSpec(listeners=[]))
    store.create(ROUTE, _route())


def test_the_table_has_a_stream_of_both_images_and_a_ttl(dynamodb: Any) -> None:
    table = dynamodb.describe_table(TableName="state")["Table"]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    ttl = dynamodb.describe_time_to_live(TableName="state")["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expiresAt"


def test_metadata_is_complete_and_the_clock_is_respected(store: ResourceStore) -> None:
    mesh = store.create(MESH, shapes.MeshSpec())
    assert mesh.metadata.version == 1
    assert mesh.metadata.created_at == datetime(2025, 1, 1, tzinfo=UTC)
    assert (mesh.metadata.mesh_owner, mesh.metadata.resource_owner) == ("123456789012", "123456789012")
    assert mesh.status.status == "ACTIVE"
    updated = store.update(MESH, shapes.MeshSpec())
    assert (updated.metadata.version, updated.metadata.uid) == (2, mesh.metadata.uid)
    assert updated.metadata.last_updated_at > updated.metadata.created_at


def test_load_mesh_state_returns_every_resource_keyed_as_meshstate_says(store: ResourceStore) -> None:
    _populate(store)
    state = store.load_mesh_state("m")
    assert state.name == "m"
    assert set(state.virtual_nodes) == {"n"}
    assert set(state.virtual_routers) == {"r"}
    assert set(state.routes) == {("r", "rt")}
    assert state.routes[("r", "rt")].spec == _route()
    assert state.endpoints == {}
    assert store.list_mesh_names() == ["m"]
    with pytest.raises(NotFound):
        store.load_mesh_state("other")


def test_stream_records_decode_to_keys_and_data(store: ResourceStore, dynamodb: Any) -> None:
    _populate(store)
    typed = dynamodb.get_item(TableName="state", Key={"pk": {"S": "MESH#m"}, "sk": {"S": "route#r#rt"}})["Item"]
    key, data = decode_image(typed)
    assert key == ROUTE
    assert isinstance(data, shapes.RouteData) and data.virtual_router_name == "r"
    assert decode_stream_record({"eventName": "REMOVE", "dynamodb": {"OldImage": typed}}) == (ROUTE, None)
    assert decode_stream_record({"eventName": "INSERT", "dynamodb": {"NewImage": typed}})[1] == data
    counter = dynamodb.get_item(TableName="state", Key={"pk": {"S": "MESH#m"}, "sk": {"S": "COUNT#MESH"}})["Item"]
    assert decode_image(counter) is None


def test_references_and_children_block_deletes_atomically(store: ResourceStore) -> None:
    _populate(store)
    with pytest.raises(ResourceInUse, match="route"):
        store.delete(ROUTER)
    with pytest.raises(ResourceInUse, match="name it"):
        store.delete(NODE)
    with pytest.raises(ResourceInUse, match="not empty"):
        store.delete(MESH)
    store.delete(ROUTE)
    store.delete(ROUTER)
    store.delete(NODE)
    assert store.delete(MESH).status.status == "DELETED"
    assert store.list_mesh_names() == []


def test_quota_on_routes_per_router(store: ResourceStore) -> None:
    _populate(store)
    with pytest.raises(LimitExceeded, match="maximum of 1"):
        store.create(ResourceKey(Kind.ROUTE, "m", "second", "r"), _route())


def test_a_stale_version_is_a_conflict_not_an_overwrite(store: ResourceStore, dynamodb: Any) -> None:
    _populate(store)
    store.update(NODE, shapes.VirtualNodeSpec())
    dynamodb.update_item(  # another writer slips in between our read and our write
        TableName="state", Key={"pk": {"S": "MESH#m"}, "sk": {"S": "virtualNode#n"}},
        UpdateExpression="SET version = :v", ExpressionAttributeValues={":v": {"N": "7"}},
    )
    original_get = store.get_item
    store.get_item = lambda key: {**original_get(key), "version": 2} if key == NODE else original_get(key)  # type: ignore[method-assign]
    with pytest.raises(Conflict, match="after version 2"):
        store.update(NODE, shapes.VirtualNodeSpec())


def test_tags_live_beside_the_spec_without_touching_the_version(store: ResourceStore) -> None:
    _populate(store)
    store.tag(NODE, {"a": "1", "b": "2"})
    store.untag(NODE, ["a"])
    assert store.tags(NODE) == {"b": "2"}
    assert store.describe(NODE).metadata.version == 1


def test_mesh_state_carries_only_the_extension_tags_the_translator_reads(store: ResourceStore) -> None:
    _populate(store)
    store.tag(NODE, {"team": "payments", "meshplane.io/lb-policy": "LEAST_REQUEST"})
    store.tag(ROUTE, {"meshplane.io/fault-abort-percent": "5"})
    state = store.load_mesh_state("m")
    assert state.tags == {
        NODE: {"meshplane.io/lb-policy": "LEAST_REQUEST"},
        ROUTE: {"meshplane.io/fault-abort-percent": "5"},
    }
