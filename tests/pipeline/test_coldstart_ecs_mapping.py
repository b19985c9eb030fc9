"""A task mapping asks ECS only for the rules that could match a node of the directory."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from meshplane.model import shapes
from meshplane.pipeline.directory import Directory, NodeInfo
from meshplane.pipeline.ecs import TaskDetail, TaskEvent
from meshplane.pipeline.ecs_mapping import TaskMapper
from meshplane.store.endpoints import NodeRef

from .conftest import sample


class RecordingEcs:
    """Answers like ECS for a task with no registry, tag, label or variable naming a node, and records each call."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def describe_services(self, **_: Any) -> dict[str, Any]:
        self.calls.append("DescribeServices")
        return {"services": [{"serviceRegistries": []}]}

    def describe_tasks(self, **_: Any) -> dict[str, Any]:
        self.calls.append("DescribeTasks")
        return {"tasks": [{"tags": []}]}

    def describe_task_definition(self, **_: Any) -> dict[str, Any]:
        self.calls.append("DescribeTaskDefinition")
        return {"taskDefinition": {"containerDefinitions": []}}


@dataclass
class Clients:
    ecs: RecordingEcs = field(default_factory=RecordingEcs)


def task() -> TaskDetail:
    body = json.loads(sample("sqs_ecs_events_batch.json")["Records"][0]["body"])
    detail = TaskEvent.model_validate(body).detail
    assert detail.service_name == "colors-blue"
    return detail


def node(name: str, spec: dict[str, Any]) -> NodeInfo:
    return NodeInfo(NodeRef("m", name), shapes.VirtualNodeSpec.model_validate(spec))


DNS = {"serviceDiscovery": {"dns": {"hostname": "other.local"}}}
CLOUD_MAP = {"serviceDiscovery": {"awsCloudMap": {"namespaceName": "ns", "serviceName": "other"}}}


def mapped(directory: Directory) -> tuple[list[NodeInfo], list[str]]:
    clients = Clients()
    found = TaskMapper(directory, clients).nodes_of(task())  # type: ignore[arg-type]
    return found, clients.ecs.calls


def test_an_empty_directory_maps_a_task_to_nothing_without_asking_ecs() -> None:
    assert mapped(Directory()) == ([], [])


def test_without_a_cloud_map_node_the_service_registries_are_not_read() -> None:
    assert mapped(Directory.of_nodes([node("other", DNS)])) == ([], ["DescribeTasks", "DescribeTaskDefinition"])


def test_with_a_cloud_map_node_every_rule_is_looked_up_as_before() -> None:
    calls = ["DescribeServices", "DescribeTasks", "DescribeTaskDefinition"]
    assert mapped(Directory.of_nodes([node("other", CLOUD_MAP)])) == ([], calls)


def test_the_ecs_service_name_rule_still_maps_without_any_lookup() -> None:
    blue = node("colors-blue", DNS)
    found, calls = mapped(Directory.of_nodes([blue]))
    assert found == [blue] and calls == ["DescribeTasks", "DescribeTaskDefinition"]
