"""Cloud Map discovery: the scheduled reconcile and CloudTrail events keep Cloud Map nodes' endpoints right."""

from __future__ import annotations

import copy
from typing import Any

from meshplane.model.ids import Kind, ProxyId
from meshplane.snapshot.types import XdsType

from .conftest import World, sample

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


def test_an_unchanged_service_costs_one_revision_call_and_a_changed_one_is_rediscovered(world: World) -> None:
    service_id = cloud_map_mesh(world)
    register(world, service_id, "i-1", "10.1.0.1")
    world.reconcile()
    calls = count_calls(world)

    world.reconcile()
    assert calls == {"DiscoverInstancesRevision": 1}

    register(world, service_id, "i-2", "10.1.0.2")
    calls.clear()
    world.reconcile()
    assert calls == {"DiscoverInstancesRevision": 1, "DiscoverInstances": 1}
    assert [e.instance_id for e in world.endpoints(MESH, "cart")] == ["i-1", "i-2"]


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
