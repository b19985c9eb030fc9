"""Pure parts of discovery: which change a task makes, and how a Cloud Map instance is addressed."""

from __future__ import annotations

import pytest
from meshplane.pipeline.cloudmap import endpoint_of as instance_endpoint
from meshplane.pipeline.ecs import Change, TaskEvent, change_of
from meshplane.pipeline.ecs import endpoint_of as task_endpoint
from meshplane.store.endpoints import ecs_order

from .conftest import sample


def task(name: str) -> TaskEvent:
    return TaskEvent.model_validate(sample(name))


@pytest.mark.parametrize("name, change", [
    ("ecs_task_running_fargate.json", Change.UP), ("ecs_task_stopped_fargate.json", Change.DOWN),
    ("ecs_task_running_ec2_bridge.json", Change.UP), ("ecs_task_stopped_ec2_bridge.json", Change.DOWN),
])
def test_samples_make_the_change_their_status_says(name: str, change: Change) -> None:
    assert change_of(task(name).detail) is change


def test_a_running_task_being_stopped_is_already_down() -> None:
    detail = task("ecs_task_running_fargate.json").detail.model_copy(update={"desired_status": "STOPPED"})
    assert change_of(detail) is Change.DOWN


def test_order_sorts_by_version_before_updated_at() -> None:
    assert ecs_order(9, "2026-12-31T00:00:00Z") < ecs_order(10, "2026-01-01T00:00:00Z")
    assert ecs_order(3, "2026-11-25T10:00:21.456Z") < ecs_order(3, "2026-11-25T10:00:21.457Z")


def test_bridge_task_uses_the_binding_of_the_listener_port_only() -> None:
    detail = task("ecs_task_running_ec2_bridge.json").detail
    assert task_endpoint(detail, [9999], lambda _: "10.0.0.5") is None
    endpoint = task_endpoint(detail, [8080], lambda _: "10.0.0.5")
    assert endpoint is not None and (endpoint.address, endpoint.port) == ("10.0.0.5", 32768)


@pytest.mark.parametrize("preference, address", [
    ("IPv4_PREFERRED", "10.0.0.1"), ("IPv6_PREFERRED", "fd00::1"), ("IPv4_ONLY", "10.0.0.1"), ("IPv6_ONLY", "fd00::1"),
])
def test_cloud_map_address_follows_ip_preference(preference: str, address: str) -> None:
    instance = {"InstanceId": "i", "Attributes": {"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_IPV6": "fd00::1"}}
    endpoint = instance_endpoint(instance, preference)
    assert endpoint is not None and endpoint.address == address


def test_cloud_map_instance_without_the_required_family_is_skipped() -> None:
    assert instance_endpoint({"InstanceId": "i", "Attributes": {"AWS_INSTANCE_IPV4": "10.0.0.1"}}, "IPv6_ONLY") is None


def test_cloud_map_custom_attributes_are_kept_and_aws_ones_dropped() -> None:
    endpoint = instance_endpoint({"InstanceId": "i", "HealthStatus": "UNHEALTHY", "Attributes": {
        "AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "70000", "stage": "prod"}}, "IPv4_PREFERRED")
    assert endpoint is not None
    assert (endpoint.port, endpoint.healthy, dict(endpoint.attributes)) == (None, False, {"stage": "prod"})
