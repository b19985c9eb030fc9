"""Cloud Map discovery: the scheduled reconcile and CloudTrail events keep Cloud Map nodes' endpoints right."""

from __future__ import annotations

import copy
from typing import Any

from meshplane.model.ids import Kind, ProxyId
from meshplane.snapshot.types import XdsType

from .conftest import World, sample
from .reconcile_marks import age_operations, quiet_since_now

MESH = "shop"


def cloud_map_mesh(world: World, attributes: list[dict[str, str]] | None = None) -> str:
    """A `cart` node discovered in Cloud Map `shop.svc`/`cart`, called by `web`; returns the service id."""
    sd = world.clients.servicediscovery
    sd.create_http_namespace(Name="shop.svc")
    namespace = next(n["Id"] for n in sd.list_namespaces()["Namespaces"] if n["Name"] == "shop.svc")
    service_id = sd.create_service(Name="cart", NamespaceId=namespace)["Service"]["Id"]
    discovery: dict[str, Any] = {"namespaceName": "shop.svc", "serviceName": "cart"}
    if attributes:
        discovery["attributes"] = attributes
    world.put(Kind.MESH, MESH, MESH, {})
    world.put(Kind.VIRTUAL_NODE, MESH, "cart", {
        "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
        "serviceDiscovery": {"awsCloudMap": discovery}})
    world.put(Kind.VIRTUAL_SERVICE, MESH, "cart.shop", {"provider": {"virtualNode": {"virtualNodeName": "cart"}}})
    world.put(Kind.VIRTUAL_NODE, MESH, "web", {
        "listeners": [{"portMapping": {"port": 9000, "protocol": "http"}}],
        "backends": [{"virtualService": {"virtualServiceName": "cart.shop"}}]})
    return service_id


def register(world: World, service_id: str, instance: str, ip: str, **attributes: str) -> None:
    world.clients.servicediscovery.register_instance(
        ServiceId=service_id, InstanceId=instance, Attributes={"AWS_INSTANCE_IPV4": ip, **attributes})


def count_calls(world: World) -> dict[str, int]:
    calls: dict[str, int] = {}

    def seen(model: Any, **_: Any) -> None:
        calls[model.name] = calls.get(model.name, 0) + 1

    world.clients.servicediscovery.meta.events.register("before-call.servicediscovery", seen)
    return calls


def test_reconcile_discovers_instances_with_port_zone_and_health(world: World) -> None:
    service_id = cloud_map_mesh(world)
    register(world, service_id, "i-1", "10.1.0.1", AWS_INSTANCE_PORT="8443", AVAILABILITY_ZONE="us-east-1b")
    register(world, service_id, "i-2", "10.1.0.2")
    world.clients.servicediscovery.update_instance_custom_health_status(
        ServiceId=service_id, InstanceId="i-2", Status="UNHEALTHY")

    summary = world.reconcile()

    assert summary["refreshed"] == [f"{MESH}/cart"]
    by_id = {e.instance_id: e for e in world.endpoints(MESH, "cart")}
    assert (by_id["i-1"].address, by_id["i-1"].port, by_id["i-1"].zone, by_id["i-1"].healthy) == (
        "10.1.0.1", 8443, "us-east-1b", True)
    assert (by_id["i-2"].address, by_id["i-2"].port, by_id["i-2"].healthy) == ("10.1.0.2", None, False)
    web = world.snapshot(ProxyId(MESH, Kind.VIRTUAL_NODE, "web"))
    assert web is not None
    hosts = [lb for locality in web.of(XdsType.ENDPOINTS)["cds_egress_shop_cart_http_8080"].endpoints
             for lb in locality.lb_endpoints]
    assert sorted(h.endpoint.address.socket_address.address for h in hosts) == ["10.1.0.1", "10.1.0.2"]


def test_reconcile_honours_the_nodes_attribute_filter(world: World) -> None:
    service_id = cloud_map_mesh(world, attributes=[{"key": "stage", "value": "prod"}])
    register(world, service_id, "i-prod", "10.1.0.1", stage="prod")
    register(world, service_id, "i-dev", "10.1.0.2", stage="dev")
    world.reconcile()
    assert [e.instance_id for e in world.endpoints(MESH, "cart")] == ["i-prod"]


def test_a_pass_between_sweeps_makes_no_discovery_call_unless_cloud_map_operations_name_the_service(
        world: World) -> None:
    service_id = cloud_map_mesh(world)
    register(world, service_id, "i-1", "10.1.0.1")
    assert world.reconcile()["sweep"] is True  # the first pass sweeps
    quiet_since_now(world)
    calls = count_calls(world)

    assert world.reconcile()["sweep"] is False
    assert calls == {"ListOperations": 1}  # not billed: nothing registered, nothing discovered

    register(world, service_id, "i-2", "10.1.0.2")
    calls.clear()
    summary = world.reconcile()
    assert calls["DiscoverInstances"] == 1 and "DiscoverInstancesRevision" not in calls
    assert summary["refreshed"] == [f"{MESH}/cart"]
    assert [e.instance_id for e in world.endpoints(MESH, "cart")] == ["i-1", "i-2"]


def test_a_node_created_for_a_service_registered_before_it_is_discovered_between_sweeps(world: World) -> None:
    """No operation names the service (its instances predate the node); the node's new item does."""
    service_id = cloud_map_mesh(world)
    register(world, service_id, "i-1", "10.1.0.1")
    world.reconcile()
    age_operations(by_seconds=3600)
    world.put(Kind.VIRTUAL_NODE, MESH, "cart-v2", {
        "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
        "serviceDiscovery": {"awsCloudMap": {"namespaceName": "shop.svc", "serviceName": "cart"}}})

    summary = world.reconcile()

    assert summary["sweep"] is False and summary["refreshed"] == [f"{MESH}/cart-v2"]
    assert [e.instance_id for e in world.endpoints(MESH, "cart-v2")] == ["i-1"]


def test_reconcile_removes_deregistered_instances_and_republishes_callers(world: World) -> None:
    service_id = cloud_map_mesh(world)
    register(world, service_id, "i-1", "10.1.0.1")
    register(world, service_id, "i-2", "10.1.0.2")
    world.reconcile()
    world.announcements()
    world.clients.servicediscovery.deregister_instance(ServiceId=service_id, InstanceId="i-2")

    summary = world.reconcile()

    assert [e.instance_id for e in world.endpoints(MESH, "cart")] == ["i-1"]
    assert f"mesh/{MESH}/virtualNode/web" in summary["published"]
    (announced,) = [a for a in world.announcements() if a["nodeId"] == f"mesh/{MESH}/virtualNode/web"]
    assert announced["changedTypes"] == ["endpoints"]


def test_cloudtrail_events_refresh_the_named_service_from_cloud_map_not_from_the_payload(world: World) -> None:
    service_id = cloud_map_mesh(world)
    register(world, service_id, "i-real", "10.1.0.9")
    event = copy.deepcopy(sample("cloudmap_register_instance.json"))
    event["detail"]["requestParameters"]["serviceId"] = service_id  # the payload's instance does not exist

    assert world.cloudmap([event]) == {"batchItemFailures": []}
    assert [(e.instance_id, e.address) for e in world.endpoints(MESH, "cart")] == [("i-real", "10.1.0.9")]

    world.clients.servicediscovery.update_instance_custom_health_status(
        ServiceId=service_id, InstanceId="i-real", Status="UNHEALTHY")
    health = copy.deepcopy(sample("cloudmap_update_health_status.json"))
    health["detail"]["requestParameters"]["serviceId"] = service_id
    world.cloudmap([health])
    assert [e.healthy for e in world.endpoints(MESH, "cart")] == [False]

    world.clients.servicediscovery.deregister_instance(ServiceId=service_id, InstanceId="i-real")
    gone = copy.deepcopy(sample("cloudmap_deregister_instance.json"))
    gone["detail"]["requestParameters"]["serviceId"] = service_id
    world.cloudmap([gone])
    assert world.endpoints(MESH, "cart") == ()


def test_the_sqs_batch_sample_of_cloudtrail_events_is_accepted(world: World) -> None:
    cloud_map_mesh(world)
    batch = sample("sqs_cloudmap_events_batch.json")
    result = world.pipeline.cloudmap_events(batch, None)
    # The sample names a service id this account does not have: nothing to refresh, nothing failed.
    assert result == {"batchItemFailures": []}


def test_a_cloudtrail_event_writes_no_idempotency_record_and_a_redelivery_reads_cloud_map_again(world: World) -> None:
    """The event only names a service, so handling it twice is as right as once: no record is worth two writes."""
    service_id = cloud_map_mesh(world)
    register(world, service_id, "i-1", "10.1.0.1")
    event = copy.deepcopy(sample("cloudmap_register_instance.json"))
    event["detail"]["requestParameters"]["serviceId"] = service_id
    world.cloudmap([event])
    register(world, service_id, "i-2", "10.1.0.2")

    world.cloudmap([event])  # the same event id, redelivered after Cloud Map changed

    assert [e.instance_id for e in world.endpoints(MESH, "cart")] == ["i-1", "i-2"]
    records = world.clients.dynamodb.query(
        TableName=world.settings.table, KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "EVT#cloudmap_events"}})["Items"]
    assert records == []
