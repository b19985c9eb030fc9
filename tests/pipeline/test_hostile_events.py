"""Hostile and broken events: bad addresses are dropped at the edge, claimed versions cannot pin an endpoint,
and an address stored some other way is still refused at publish time."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from meshplane.model.ids import Kind, ProxyId
from meshplane.model.state import Endpoint
from meshplane.store.endpoints import MAX_VERSION, NodeRef, partition

from . import meshes
from .conftest import World, emf_documents, metric_total, sample
from .ecs_tasks import Cluster, tasks_stay_running

FRONT = ProxyId("colors", Kind.VIRTUAL_NODE, "front")
BLUE = NodeRef("colors", "colors-blue")
BAD_ADDRESSES = ["not-an-ip", "999.999.999.999", "7" * 10_000]


def task_event(task: str, *, address: str = "10.0.1.25", version: int = 1, status: str = "RUNNING",
               updated_at: str = "2026-11-25T10:00:21.456Z") -> dict[str, Any]:
    event = copy.deepcopy(sample("ecs_task_running_fargate.json"))
    detail = event["detail"]
    event["id"] = f"{task}-v{version}-{status}"
    detail["taskArn"] = f"arn:aws:ecs:us-east-1:123456789012:task/colors/{task}"
    detail["attachments"][0]["details"][-1]["value"] = address
    detail.update(version=version, updatedAt=updated_at, lastStatus=status, desiredStatus=status)
    return event


def stored(world: World) -> list[tuple[str, str]]:
    return sorted((e.instance_id, e.address) for e in world.endpoints("colors", "colors-blue"))


def test_tasks_with_bad_addresses_are_dropped_and_logged_while_the_good_one_in_the_batch_lands(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    meshes.colors(world)
    bad = [task_event(f"bad{i}", address=address) for i, address in enumerate(BAD_ADDRESSES)]

    result = world.ecs([*bad, task_event("good")])

    assert result == {"batchItemFailures": []}, "a bad address is not worth a retry: the record is consumed"
    assert stored(world) == [("good", "10.0.1.25")]
    items = world.clients.dynamodb.query(
        TableName=world.settings.table, KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": partition("colors", "colors-blue")}})["Items"]
    assert [item["sk"]["S"] for item in items] == ["I#ecs#good"], "nothing of the bad tasks is stored"
    refused = [line for line in world.logs() if line.get("message") == "task address refused: nothing stored"]
    assert sorted(line["task"].rsplit("/", 1)[-1] for line in refused) == ["bad0", "bad1", "bad2"]
    assert all(len(line["reason"]) < 200 for line in refused), "a 10 kB address is not copied into the logs"
    assert metric_total(emf_documents(capsys.readouterr().out), "EndpointsRejected") == 3


def test_a_bad_address_does_not_replace_the_tasks_good_endpoint(world: World) -> None:
    meshes.colors(world)
    world.ecs([task_event("t1", version=1)])
    world.ecs([task_event("t1", version=2, address="999.999.999.999")])
    assert stored(world) == [("t1", "10.0.1.25")]


def test_a_claimed_version_past_twelve_digits_cannot_pin_the_endpoint_against_a_later_stop(world: World) -> None:
    meshes.colors(world)
    assert world.ecs([task_event("t1", version=9_999_999_999_999)]) == {"batchItemFailures": []}
    assert stored(world) == [("t1", "10.0.1.25")]

    world.ecs([task_event("t1", version=10_000_000_000_000, status="STOPPED")])

    assert stored(world) == [], "version 10^13 is newer than 10^13 - 1, whatever their string forms"


def test_a_version_past_the_bound_is_a_failed_record_and_stores_nothing(world: World) -> None:
    meshes.colors(world)
    result = world.ecs([task_event("t1", version=MAX_VERSION + 1), task_event("t2")])
    assert len(result["batchItemFailures"]) == 1
    assert stored(world) == [("t2", "10.0.1.25")]


@pytest.fixture
def cluster(world: World) -> Any:
    with tasks_stay_running():
        yield Cluster.create(world)


def test_the_reconcile_removes_an_endpoint_pinned_by_a_huge_claimed_version(world: World, cluster: Cluster) -> None:
    meshes.colors(world)
    task = cluster.run()
    world.ecs([cluster.event(task, version=99_999_999_999_999)])
    assert len(stored(world)) == 1
    cluster.stop(task)

    world.reconcile()

    assert stored(world) == []


def legacy_item(world: World, instance_id: str, order: str, cluster: str = "colors") -> None:
    """An ECS item as older code wrote it: only the zero-padded string `order`, no numeric version."""
    endpoint = Endpoint(instance_id=instance_id, address="10.0.1.25", source="ecs",
                        attributes={"ECS_CLUSTER_NAME": cluster})
    world.clients.dynamodb.put_item(TableName=world.settings.table, Item={
        "pk": {"S": partition("colors", "colors-blue")}, "sk": {"S": f"I#ecs#{instance_id}"},
        "order": {"S": order}, "present": {"BOOL": True}, "endpoint": {"S": endpoint.model_dump_json()}})


def test_items_written_before_the_numeric_version_keep_their_order(world: World) -> None:
    meshes.colors(world)
    legacy_item(world, "t1", "000000000003#2026-11-25T10:00:21.456Z")
    world.ecs([task_event("t1", version=2, status="STOPPED")])
    assert stored(world) == [("t1", "10.0.1.25")], "an older version is still stale"
    world.ecs([task_event("t1", version=3, status="STOPPED", updated_at="2026-11-25T10:00:22.000Z")])
    assert stored(world) == []


def test_the_reconcile_final_tombstone_outranks_an_item_pinned_by_older_code(world: World, cluster: Cluster) -> None:
    meshes.colors(world)
    task = cluster.run()
    task_id = task["taskArn"].rsplit("/", 1)[-1]
    legacy_item(world, task_id, "9999999999999#2026-11-25T10:00:21.456Z", cluster.arn.rsplit("/", 1)[-1])
    cluster.stop(task)

    world.reconcile()

    assert stored(world) == []


def test_an_address_stored_around_the_edge_is_refused_at_publish_even_for_an_endpoint_only_change(
        world: World) -> None:
    meshes.colors(world)
    world.recompute()
    good = world.pipeline.pointers.get(FRONT.path)
    world.announcements()
    # Written straight to the table, past the event edge (an older version, a hand edit, a bug elsewhere).
    bad = Endpoint(instance_id="rogue", address="999.999.999.999", source="ecs")
    world.clients.dynamodb.put_item(TableName=world.settings.table, Item={
        "pk": {"S": partition("colors", "colors-blue")}, "sk": {"S": "I#ecs#rogue"}, "version": {"N": "1"},
        "updatedAt": {"S": "2026-11-25T10:00:21.456Z"}, "order": {"S": "000000000001#x"},
        "present": {"BOOL": True}, "endpoint": {"S": bad.model_dump_json()}})

    outcome = world.pipeline.recomputer.recompute("colors", endpoint_nodes=["colors-blue"])

    (rejected,) = outcome.rejected
    assert rejected.proxy == FRONT
    assert any("999.999.999.999" in problem and "not an IP address" in problem for problem in rejected.problems)
    assert world.pipeline.pointers.get(FRONT.path) == good, "the last good snapshot stays"
    assert world.announcements() == []


def test_cloud_map_instances_with_bad_attributes_are_left_out_and_the_rest_discovered(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    meshes.colors(world)
    world.put(Kind.VIRTUAL_NODE, "colors", "colors-blue", {
        "listeners": [meshes.listener(8080)],
        "serviceDiscovery": {"awsCloudMap": {"namespaceName": "colors.svc", "serviceName": "blue"}}})
    sd = world.clients.servicediscovery
    sd.create_http_namespace(Name="colors.svc")
    namespace = sd.list_namespaces()["Namespaces"][0]["Id"]
    service = sd.create_service(Name="blue", NamespaceId=namespace)["Service"]["Id"]
    sd.register_instance(ServiceId=service, InstanceId="good", Attributes={"AWS_INSTANCE_IPV4": "10.2.0.1"})
    for i, address in enumerate(BAD_ADDRESSES[:2]):
        sd.register_instance(ServiceId=service, InstanceId=f"bad{i}", Attributes={"AWS_INSTANCE_IPV4": address})
    sd.register_instance(ServiceId=service, InstanceId="badport",
                         Attributes={"AWS_INSTANCE_IPV4": "10.2.0.2", "AWS_INSTANCE_PORT": "99999"})
    call = copy.deepcopy(sample("cloudmap_register_instance.json"))
    call["detail"]["requestParameters"]["serviceId"] = service

    assert world.cloudmap([call]) == {"batchItemFailures": []}

    assert stored(world) == [("good", "10.2.0.1")]
    refused = [line for line in world.logs() if line.get("message") == "Cloud Map instance refused: not discovered"]
    assert sorted(line["instance"] for line in refused) == ["bad0", "bad1", "badport"]
    assert metric_total(emf_documents(capsys.readouterr().out), "EndpointsRejected") == 3
