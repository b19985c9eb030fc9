"""A Cloud Map event reads the nodes of its service through the lookup, not every node of every mesh."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from meshplane.model.ids import Kind
from meshplane.store import cloudmap_lookup

from .conftest import World, sample
from .test_cloudmap import MESH, cloud_map_mesh, register

NODE_PREFIX = "virtualNode#"


def event_for(service_id: str) -> dict[str, Any]:
    event = copy.deepcopy(sample("cloudmap_register_instance.json"))
    event["detail"]["requestParameters"]["serviceId"] = service_id
    return event


@contextmanager
def node_listings(world: World) -> Iterator[list[str]]:
    """The partitions whose virtual nodes a Query lists while the block runs."""
    listed: list[str] = []

    def seen(params: dict[str, Any], **_: Any) -> None:
        values = params.get("ExpressionAttributeValues", {})
        if values.get(":prefix", {}).get("S") == NODE_PREFIX:
            listed.append(values[":pk"]["S"])

    client = world.clients.dynamodb
    client.meta.events.register("provide-client-params.dynamodb.Query", seen)
    try:
        yield listed
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb.Query", seen)


def lookup_items(world: World) -> list[dict[str, Any]]:
    return world.clients.dynamodb.query(
        TableName=world.settings.table, KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": cloudmap_lookup.partition(MESH)}})["Items"]


def forget_the_lookup(world: World) -> None:
    """The mesh as a table written before the lookup holds it: no lookup items, no mark on its list entry."""
    dynamodb, table = world.clients.dynamodb, world.settings.table
    for item in lookup_items(world):
        dynamodb.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})
    dynamodb.update_item(TableName=table, Key={"pk": {"S": "MESHES"}, "sk": {"S": MESH}},
                         UpdateExpression="REMOVE cloudMapLookup")


def test_an_event_finds_its_nodes_without_listing_any_mesh_s_virtual_nodes(world: World) -> None:
    service_id = cloud_map_mesh(world)
    for i in range(5):  # nodes of other services, which the event must not read
        world.put(Kind.VIRTUAL_NODE, MESH, f"other-{i}", {"serviceDiscovery": {"awsCloudMap": {
            "namespaceName": "shop.svc", "serviceName": f"other-{i}"}}})
    register(world, service_id, "i-1", "10.1.0.1")

    with node_listings(world) as listed:
        assert world.cloudmap([event_for(service_id)]) == {"batchItemFailures": []}

    assert listed == []
    assert [e.instance_id for e in world.endpoints(MESH, "cart")] == ["i-1"]


def test_a_node_moved_to_another_service_is_refreshed_for_that_service_only(world: World) -> None:
    service_id = cloud_map_mesh(world)
    sd = world.clients.servicediscovery
    namespace = next(n["Id"] for n in sd.list_namespaces()["Namespaces"] if n["Name"] == "shop.svc")
    basket_id = sd.create_service(Name="basket", NamespaceId=namespace)["Service"]["Id"]
    register(world, service_id, "i-cart", "10.1.0.1")
    register(world, basket_id, "i-basket", "10.1.0.2")
    world.put(Kind.VIRTUAL_NODE, MESH, "cart", {
        "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
        "serviceDiscovery": {"awsCloudMap": {"namespaceName": "shop.svc", "serviceName": "basket"}}})

    world.cloudmap([event_for(service_id)])
    assert world.endpoints(MESH, "cart") == ()
    world.cloudmap([event_for(basket_id)])
    assert [e.instance_id for e in world.endpoints(MESH, "cart")] == ["i-basket"]
    assert len(lookup_items(world)) == 1


def test_a_node_without_cloud_map_or_deleted_leaves_no_lookup_item(world: World) -> None:
    cloud_map_mesh(world)
    assert [item["node"]["S"] for item in lookup_items(world)] == ["cart"]

    world.put(Kind.VIRTUAL_NODE, MESH, "cart", {"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
                                                "serviceDiscovery": {"dns": {"hostname": "cart.shop.local"}}})
    assert lookup_items(world) == []

    world.put(Kind.VIRTUAL_NODE, MESH, "pay", {"serviceDiscovery": {"awsCloudMap": {
        "namespaceName": "shop.svc", "serviceName": "pay"}}})
    world.delete(Kind.VIRTUAL_NODE, MESH, "pay")
    assert lookup_items(world) == []


def test_a_mesh_stored_before_the_lookup_is_read_whole_until_the_sweep_writes_its_lookup(world: World) -> None:
    service_id = cloud_map_mesh(world)
    forget_the_lookup(world)
    register(world, service_id, "i-1", "10.1.0.1")

    with node_listings(world) as listed:
        world.cloudmap([event_for(service_id)])
    assert listed == [f"MESH#{MESH}"]
    assert [e.instance_id for e in world.endpoints(MESH, "cart")] == ["i-1"]

    world.reconcile()  # the first pass is a sweep
    assert [item["node"]["S"] for item in lookup_items(world)] == ["cart"]

    register(world, service_id, "i-2", "10.1.0.2")
    with node_listings(world) as listed:
        world.cloudmap([event_for(service_id)])
    assert listed == []
    assert [e.instance_id for e in world.endpoints(MESH, "cart")] == ["i-1", "i-2"]
