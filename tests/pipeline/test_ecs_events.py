"""ECS Task State Change events, delivered as SQS batches, keep the endpoint items right."""

from __future__ import annotations

import copy
import json

import pytest
from meshplane.model.ids import Kind

from . import meshes
from .conftest import World, emf_documents, metric_total, sample


def test_running_fargate_task_becomes_an_endpoint_on_its_eni_address(world: World) -> None:
    meshes.colors(world)
    result = world.ecs([sample("ecs_task_running_fargate.json")])
    assert result == {"batchItemFailures": []}
    (endpoint,) = world.endpoints("colors", "colors-blue")
    assert (endpoint.address, endpoint.port, endpoint.zone, endpoint.source) == ("10.0.1.25", None, "us-east-1a", "ecs")
    assert endpoint.instance_id == "a1b2c3d4e5f60718293a4b5c6d7e8f90"


def test_stopped_task_is_removed_and_a_late_running_event_cannot_resurrect_it(world: World, capsys) -> None:
    meshes.colors(world)
    world.ecs([sample("ecs_task_running_fargate.json")])
    world.ecs([sample("ecs_task_stopped_fargate.json")])
    assert world.endpoints("colors", "colors-blue") == ()
    late = copy.deepcopy(sample("ecs_task_running_fargate.json"))
    late["id"] = "a-redelivered-copy-with-a-new-event-id"
    capsys.readouterr()
    assert world.ecs([late]) == {"batchItemFailures": []}
    assert world.endpoints("colors", "colors-blue") == ()
    assert metric_total(emf_documents(capsys.readouterr().out), "EventsDeduplicated") == 1


def test_bridge_mode_task_is_reached_on_its_host_port_at_the_container_instance_ip(world: World) -> None:
    meshes.colors(world)
    ec2 = world.clients.ec2
    image = ec2.describe_images()["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]
    ecs = world.clients.ecs
    ecs.create_cluster(clusterName="colors")
    document = json.dumps({"instanceId": instance["InstanceId"], "region": "us-east-1"})
    container_instance = ecs.register_container_instance(
        cluster="colors", instanceIdentityDocument=document)["containerInstance"]["containerInstanceArn"]
    event = copy.deepcopy(sample("ecs_task_running_ec2_bridge.json"))
    event["detail"]["containerInstanceArn"] = container_instance
    event["detail"]["clusterArn"] = ecs.describe_clusters(clusters=["colors"])["clusters"][0]["clusterArn"]

    assert world.ecs([event]) == {"batchItemFailures": []}
    (endpoint,) = world.endpoints("colors", "colors-red")
    assert (endpoint.address, endpoint.port) == (instance["PrivateIpAddress"], 32768)


def test_cloud_map_service_registry_wins_over_a_node_named_like_the_ecs_service(world: World) -> None:
    meshes.colors(world)
    world.put(Kind.VIRTUAL_NODE, "colors", "blue-by-cloudmap", {
        "listeners": [meshes.listener(8080)],
        "serviceDiscovery": {"awsCloudMap": {"namespaceName": "colors.svc", "serviceName": "blue"}},
    })
    sd = world.clients.servicediscovery
    sd.create_http_namespace(Name="colors.svc")
    namespace = sd.list_namespaces()["Namespaces"][0]["Id"]
    registry = sd.create_service(Name="blue", NamespaceId=namespace)["Service"]["Arn"]
    ecs = world.clients.ecs
    cluster = ecs.create_cluster(clusterName="colors")["cluster"]["clusterArn"]
    container = {"name": "app", "image": "app", "memory": 128}
    ecs.register_task_definition(family="colors-blue", containerDefinitions=[container])
    ecs.create_service(cluster="colors", serviceName="colors-blue", taskDefinition="colors-blue", desiredCount=1,
                       serviceRegistries=[{"registryArn": registry}])
    event = copy.deepcopy(sample("ecs_task_running_fargate.json"))
    event["detail"]["clusterArn"] = cluster

    world.ecs([event])
    assert [e.address for e in world.endpoints("colors", "blue-by-cloudmap")] == ["10.0.1.25"]
    assert world.endpoints("colors", "colors-blue") == ()


def test_envoy_container_environment_names_the_node_when_the_service_does_not(world: World) -> None:
    meshes.colors(world)
    event = copy.deepcopy(sample("ecs_task_running_fargate.json"))
    event["detail"]["group"] = "family:colors-blue"
    event["detail"]["overrides"]["containerOverrides"][1]["environment"] = [
        {"name": "APPMESH_VIRTUAL_NODE_NAME", "value": "mesh/colors/virtualNode/colors-red"}]
    world.ecs([event])
    assert [e.address for e in world.endpoints("colors", "colors-red")] == ["10.0.1.25"]


def test_poison_events_are_reported_as_batch_item_failures_without_blocking_the_rest(world: World, capsys) -> None:
    meshes.colors(world)
    broken = copy.deepcopy(sample("ecs_task_running_fargate.json"))
    broken["id"] = "broken-event"
    del broken["detail"]["taskArn"]
    batch = [broken, "this is not json", sample("ecs_task_running_ec2_bridge.json") | {"detail-type": "Nope"},
             sample("ecs_task_running_fargate.json")]
    from .conftest import LambdaContext, sqs_batch

    event = sqs_batch(batch)
    result = world.pipeline.ecs_events(event, LambdaContext())
    failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
    assert failed == {r["messageId"] for r in event["Records"][:3]}
    assert [e.address for e in world.endpoints("colors", "colors-blue")] == ["10.0.1.25"]
    out = capsys.readouterr().out
    reasons = [line["reason"] for line in world.logs() if line.get("level") == "ERROR" and "reason" in line]
    assert any("taskArn" in r for r in reasons)
    assert any("JSONDecodeError" in r for r in reasons)
    assert any("NotATaskEvent" in r for r in reasons)
    assert metric_total(emf_documents(out), "EventsFailed") == 3
    assert metric_total(emf_documents(out), "EventsReceived") == 4


def test_a_redelivered_event_is_answered_from_its_idempotency_record(world: World) -> None:
    meshes.colors(world)
    event = sample("ecs_task_running_fargate.json")
    world.ecs([event])
    items = world.clients.dynamodb.query(
        TableName=world.settings.table, KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "EVT#ecs_events"}})["Items"]
    assert len(items) == 1 and items[0]["status"]["S"] == "COMPLETED" and "expiresAt" in items[0]
    before = world.clients.dynamodb.get_item(
        TableName=world.settings.table,
        Key={"pk": {"S": "EP#colors#colors-blue"}, "sk": {"S": "I#ecs#a1b2c3d4e5f60718293a4b5c6d7e8f90"}})["Item"]
    world.ecs([event])
    after = world.clients.dynamodb.get_item(
        TableName=world.settings.table,
        Key={"pk": {"S": "EP#colors#colors-blue"}, "sk": {"S": "I#ecs#a1b2c3d4e5f60718293a4b5c6d7e8f90"}})["Item"]
    assert before == after


@pytest.mark.parametrize("last, desired", [("PENDING", "RUNNING"), ("PROVISIONING", "RUNNING")])
def test_tasks_not_yet_running_change_nothing(world: World, last: str, desired: str) -> None:
    meshes.colors(world)
    event = copy.deepcopy(sample("ecs_task_running_fargate.json"))
    event["detail"].update(lastStatus=last, desiredStatus=desired, version=1)
    world.ecs([event])
    assert world.endpoints("colors", "colors-blue") == ()
