"""Pure parts of discovery: which change a task makes, and how a Cloud Map instance is addressed."""

from __future__ import annotations

import pytest
from meshplane.model.addresses import InvalidAddress
from meshplane.pipeline.cloudmap import endpoint_of as instance_endpoint
from meshplane.pipeline.ecs import Change, TaskEvent, change_of
from meshplane.pipeline.ecs import endpoint_of as task_endpoint
from meshplane.store.endpoints import MAX_VERSION, EcsOrder
from pydantic import ValidationError

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
    assert EcsOrder(9, "2026-12-31T00:00:00Z") < EcsOrder(10, "2026-01-01T00:00:00Z")
    assert EcsOrder(3, "2026-11-25T10:00:21.456Z") < EcsOrder(3, "2026-11-25T10:00:21.457Z")
    assert EcsOrder(999_999_999_999, "z") < EcsOrder(10**12, "0"), "a version past 12 digits is still a number"


def test_legacy_keys_of_small_versions_are_what_older_items_hold_and_big_ones_sort_above_them() -> None:
    assert EcsOrder(7, "2026-11-25T10:00:21.456Z").legacy_key == "000000000007#2026-11-25T10:00:21.456Z"
    pinned_by_old_code = f"{10**14:012d}#2026-11-25T10:00:21.456Z"  # what a 15-digit claim stored before
    assert EcsOrder(MAX_VERSION, "gone").legacy_key > pinned_by_old_code
    assert EcsOrder(10**12, "0").legacy_key < EcsOrder(10**13, "0").legacy_key


@pytest.mark.parametrize("version", [-1, MAX_VERSION + 1, 10**40, 1.5, "7", True, None])
def test_an_event_version_that_is_not_a_bounded_integer_is_refused(version: object) -> None:
    event = sample("ecs_task_running_fargate.json")
    event["detail"]["version"] = version
    with pytest.raises(ValidationError, match="version"):
        TaskEvent.model_validate(event)


@pytest.mark.parametrize("updated_at", ["", "yesterday", "z" * 10, "2026-11-25T10:00:21.456Z" + "9" * 100])
def test_an_updated_at_that_is_not_an_iso_time_is_refused(updated_at: str) -> None:
    event = sample("ecs_task_running_fargate.json")
    event["detail"]["updatedAt"] = updated_at
    with pytest.raises(ValidationError, match="updatedAt"):
        TaskEvent.model_validate(event)


@pytest.mark.parametrize("address", ["not-an-ip", "999.999.999.999", "1" * 10_000, "fd00::1", "0.0.0.0",
                                     "224.0.0.1", "10.0.1.025", " 10.0.1.25"])
def test_a_fargate_task_whose_eni_address_is_not_a_unicast_ipv4_address_is_refused(address: str) -> None:
    event = sample("ecs_task_running_fargate.json")
    event["detail"]["attachments"][0]["details"][-1]["value"] = address
    with pytest.raises(InvalidAddress):
        task_endpoint(TaskEvent.model_validate(event).detail, [8080], lambda _: None)


@pytest.mark.parametrize("host, port", [("10.0.0.5", -1), ("10.0.0.5", 70_000), ("bogus", 32768)])
def test_a_bridge_binding_with_a_bad_host_address_or_port_is_refused(host: str, port: int) -> None:
    event = sample("ecs_task_running_ec2_bridge.json")
    for container in event["detail"]["containers"]:
        for binding in container.get("networkBindings", []):
            binding["hostPort"] = port
    with pytest.raises(InvalidAddress):
        task_endpoint(TaskEvent.model_validate(event).detail, [8080], lambda _: host)


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
        "AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "8443", "stage": "prod"}}, "IPv4_PREFERRED")
    assert endpoint is not None
    assert (endpoint.port, endpoint.healthy, dict(endpoint.attributes)) == (8443, False, {"stage": "prod"})


@pytest.mark.parametrize("attributes", [
    {"AWS_INSTANCE_IPV4": "not-an-ip"}, {"AWS_INSTANCE_IPV4": "999.999.999.999"}, {"AWS_INSTANCE_IPV4": "fd00::1"},
    {"AWS_INSTANCE_IPV4": "1" * 10_000}, {"AWS_INSTANCE_IPV6": "10.0.0.1"},
    {"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_IPV6": "fe80::1%eth0"},
    {"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "70000"},
    {"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "0"},
    {"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "http"},
])
def test_a_cloud_map_instance_with_a_bad_address_or_port_attribute_is_refused(attributes: dict[str, str]) -> None:
    with pytest.raises(InvalidAddress):
        instance_endpoint({"InstanceId": "i", "Attributes": attributes}, "IPv4_PREFERRED")


def test_a_cloud_map_instance_id_longer_than_cloud_map_allows_is_refused() -> None:
    with pytest.raises(InvalidAddress, match="instance id"):
        instance_endpoint({"InstanceId": "i" * 65, "Attributes": {"AWS_INSTANCE_IPV4": "10.0.0.1"}}, "IPv4_PREFERRED")
