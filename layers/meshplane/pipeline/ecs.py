"""ECS "Task State Change" events: parse them and turn a task into an endpoint change.

Only what the pipeline reads is modelled (pydantic, unknown fields ignored): a
malformed event raises `ValidationError`, which the batch reports as a failure
so the queue redrives it to the DLQ.

Which change a task makes:
- `lastStatus` RUNNING (and `desiredStatus` not STOPPED) -> the task is an endpoint;
- `lastStatus` or `desiredStatus` STOPPED -> the task is removed (tombstoned);
- anything else (PROVISIONING, PENDING, ...) -> no change.

Its address: with `awsvpc` (Fargate, or EC2 with awsvpc) the ENI attachment's
`privateIPv4Address`, reached on the listener port (`Endpoint.port` None).  With
`bridge` or `host` networking the container's `networkBindings`: the `hostPort`
bound to the virtual node's listener `containerPort`, on the binding's `bindIP`
or, when that is a wildcard, the container instance's private IP.

Ordering: events of one task are ordered by `detail.version`, then `updatedAt`.
A version must be an integer from 0 to `MAX_VERSION`, and `updatedAt` an ISO-8601
time: an event that claims anything else is malformed (to the DLQ), since a claimed
version far above the task's real ones would outrank every later event.

Addresses are checked here, where they enter (`model.addresses`): a task whose
address or port no Envoy would accept raises `InvalidAddress`, and the caller drops
that endpoint with a log line instead of storing it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from enum import StrEnum
from functools import partial

from pydantic import BaseModel, ConfigDict, Field, field_validator

from meshplane.model.addresses import ip_address, port
from meshplane.model.state import Endpoint
from meshplane.store.endpoints import MAX_UPDATED_AT, MAX_VERSION, EcsOrder

WILDCARDS = frozenset({"0.0.0.0", "::", ""})
# The `updatedAt` of a task read from DescribeTasks, which has none: below every ISO-8601 time.
OBSERVED = "0"
MAX_ARN_LENGTH = 2048
# A task id is the last segment of its ARN (32 hex digits, or a UUID for older tasks); it keys an item.
TASK_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
# The attribute ECS itself gives the Cloud Map instances of a service's tasks; the
# reconcile reads it back to know which cluster an endpoint's task ran in.
CLUSTER_ATTRIBUTE = "ECS_CLUSTER_NAME"


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class KeyValue(_Lenient):
    name: str
    value: str = ""


class Attachment(_Lenient):
    type: str
    status: str | None = None
    details: list[KeyValue] = Field(default_factory=list)


class NetworkBinding(_Lenient):
    bind_ip: str = Field(default="", alias="bindIP")
    container_port: int | None = Field(default=None, alias="containerPort")
    host_port: int | None = Field(default=None, alias="hostPort")
    protocol: str = "tcp"


class NetworkInterface(_Lenient):
    private_ipv4_address: str | None = Field(default=None, alias="privateIpv4Address")
    ipv6_address: str | None = Field(default=None, alias="ipv6Address")


class Container(_Lenient):
    name: str
    last_status: str | None = Field(default=None, alias="lastStatus")
    network_bindings: list[NetworkBinding] = Field(default_factory=list, alias="networkBindings")
    network_interfaces: list[NetworkInterface] = Field(default_factory=list, alias="networkInterfaces")


class ContainerOverride(_Lenient):
    name: str
    environment: list[KeyValue] = Field(default_factory=list)


class Overrides(_Lenient):
    container_overrides: list[ContainerOverride] = Field(default_factory=list, alias="containerOverrides")


class TaskDetail(_Lenient):
    """The `detail` of an ECS Task State Change event."""

    task_arn: str = Field(alias="taskArn", min_length=1, max_length=MAX_ARN_LENGTH)
    cluster_arn: str = Field(alias="clusterArn", min_length=1, max_length=MAX_ARN_LENGTH)
    task_definition_arn: str = Field(alias="taskDefinitionArn", min_length=1, max_length=MAX_ARN_LENGTH)
    last_status: str = Field(alias="lastStatus")
    desired_status: str = Field(alias="desiredStatus")
    version: int = Field(ge=0, le=MAX_VERSION, strict=True)
    updated_at: str = Field(alias="updatedAt", min_length=1, max_length=MAX_UPDATED_AT)
    group: str | None = None
    launch_type: str | None = Field(default=None, alias="launchType")
    availability_zone: str | None = Field(default=None, alias="availabilityZone")
    container_instance_arn: str | None = Field(default=None, alias="containerInstanceArn")
    health_status: str | None = Field(default=None, alias="healthStatus")
    attachments: list[Attachment] = Field(default_factory=list)
    containers: list[Container] = Field(default_factory=list)
    overrides: Overrides = Field(default_factory=Overrides)

    @field_validator("task_arn")
    @classmethod
    def _has_task_id(cls, arn: str) -> str:
        if not TASK_ID.fullmatch(arn.rsplit("/", 1)[-1]):
            raise ValueError("the task ARN must end in a task id of letters, digits, '-' or '_'")
        return arn

    @field_validator("updated_at")
    @classmethod
    def _is_a_time(cls, value: str) -> str:
        if value != OBSERVED:
            try:
                datetime.fromisoformat(value)
            except ValueError:
                raise ValueError("updatedAt must be an ISO-8601 time") from None
        return value

    @property
    def task_id(self) -> str:
        return self.task_arn.rsplit("/", 1)[-1]

    @property
    def cluster_name(self) -> str:
        return self.cluster_arn.rsplit("/", 1)[-1]

    @property
    def order(self) -> EcsOrder:
        return EcsOrder(self.version, self.updated_at)

    @property
    def service_name(self) -> str | None:
        """The ECS service of a task started by one (`group` is `service:<name>`)."""
        if self.group and self.group.startswith("service:"):
            return self.group.removeprefix("service:") or None
        return None


class TaskEvent(_Lenient):
    """An EventBridge event from `aws.ecs` with detail-type "ECS Task State Change"."""

    id: str
    source: str
    detail_type: str = Field(alias="detail-type")
    detail: TaskDetail


class Change(StrEnum):
    UP = "up"
    DOWN = "down"
    NONE = "none"


def change_of(task: TaskDetail) -> Change:
    if task.last_status == "STOPPED" or task.desired_status == "STOPPED":
        return Change.DOWN
    if task.last_status == "RUNNING":
        return Change.UP
    return Change.NONE


def _awsvpc_address(task: TaskDetail) -> str | None:
    for attachment in task.attachments:
        if attachment.type in ("eni", "ElasticNetworkInterface"):
            for detail in attachment.details:
                if detail.name == "privateIPv4Address" and detail.value:
                    return detail.value
    for container in task.containers:
        for interface in container.network_interfaces:
            if interface.private_ipv4_address:
                return interface.private_ipv4_address
    return None


HostAddress = Callable[[TaskDetail], str | None]


def endpoint_of(task: TaskDetail, listener_ports: Iterable[int], host_address: HostAddress) -> Endpoint | None:
    """The endpoint a RUNNING task offers for a node with these listener ports, if it can be addressed.

    Raises `InvalidAddress` when the task names an address or port that no Envoy would accept.
    """
    endpoint = partial(
        Endpoint,
        instance_id=task.task_id,
        zone=task.availability_zone,
        healthy=task.health_status != "UNHEALTHY",
        source="ecs",
        attributes={CLUSTER_ATTRIBUTE: task.cluster_name},
    )
    address = _awsvpc_address(task)
    if address is not None:
        return endpoint(address=ip_address(address, 4), port=None)
    for listener_port in list(listener_ports):
        for container in task.containers:
            for binding in container.network_bindings:
                if binding.container_port == listener_port and binding.host_port and binding.protocol == "tcp":
                    bound = binding.bind_ip if binding.bind_ip not in WILDCARDS else host_address(task)
                    if bound:
                        return endpoint(address=ip_address(bound), port=port(binding.host_port))
    return None
