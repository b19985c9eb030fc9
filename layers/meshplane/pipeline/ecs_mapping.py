"""Which virtual node(s) an ECS task is an instance of.

The rule, first match wins:
1. **Cloud Map service registry.**  A task started by an ECS service (`group` is
   `service:<name>`) whose service has `serviceRegistries`: each registry's Cloud Map
   service (namespace name, service name) is matched to the virtual nodes whose
   `serviceDiscovery.awsCloudMap` names that namespace and service.
2. **Explicit name.**  The task tag `appmesh.virtualNode`, then per container (task
   overrides first, then the task definition) the docker label `appmesh.virtualNode`
   or the environment variable `APPMESH_VIRTUAL_NODE_NAME` (or `APPMESH_RESOURCE_ARN`)
   as the Envoy container carries it: `mesh/<m>/virtualNode/<n>` or the node's ARN.
3. **ECS service name.**  `group` `service:<name>` equal to a virtual node's name,
   in every mesh that has one.

A task that matches nothing is ignored (and counted).  A rule that cannot match is
not looked up: rule 1 while no virtual node is discovered through Cloud Map, rule 2
while the directory has no node at all.  Every lookup goes through
the injected ECS, Cloud Map and EC2 clients and is cached for the invocation.  The
clients are read from `clients` when a lookup first needs them: most tasks never
need EC2, whose client alone costs a few hundred ms of a cold start to build.

A Cloud Map service id's names are also kept for the container (`CloudMapNames`): neither a
service's name nor its namespace can change, and an id is never given to another service, so
a warm container answers a Cloud Map event without those two calls.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError

from meshplane.model.ids import Kind, ProxyId
from meshplane.pipeline.directory import Directory, NodeInfo
from meshplane.ttlcache import TtlCache

if TYPE_CHECKING:  # the Cloud Map handler maps service ids too, and never parses an ECS event
    from meshplane.pipeline.ecs import TaskDetail
    from meshplane.pipeline.wiring import AwsClients

LABEL = "appmesh.virtualNode"
# Lookups that fail with these mean "nothing there" (the service, task or definition is
# gone); throttling and 5xx are left to raise, so the event is retried.
MISSING = frozenset(
    {
        "ClusterNotFoundException",
        "ServiceNotFoundException",
        "InvalidParameterException",
        "ResourceNotFoundException",
        "ClientException",
    }
)
ENV_NAMES = ("APPMESH_VIRTUAL_NODE_NAME", "APPMESH_RESOURCE_ARN")


T = TypeVar("T")


def _unless_missing(call: Callable[[], T], default: T) -> T:
    try:
        return call()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in MISSING:
            return default
        raise


class CloudMapNames(TtlCache[str, tuple[str, str]]):
    """(namespace name, service name) by Cloud Map service id, for as long as a container lives.

    Only found names are kept: an id that names nothing is asked again.  The expiry bounds how
    long a deleted service's names are kept, which is harmless: its nodes are then refreshed
    from a service Cloud Map no longer has, as the reconcile would."""

    def __init__(self, ttl: float = 3600.0, max_entries: int = 10_000) -> None:
        super().__init__(ttl, max_entries)


class TaskMapper:
    def __init__(self, directory: Directory, clients: AwsClients, names: CloudMapNames | None = None) -> None:
        """`names` keeps the Cloud Map names found beyond this mapper (the container's `CloudMapNames`)."""
        self._directory = directory
        self._clients = clients
        self._names = names
        self._registries = cache(self._registries_uncached)
        self._cloud_map_service = cache(self._cloud_map_service_uncached)
        self._task_definition = cache(self._task_definition_uncached)
        self._host = cache(self._host_uncached)
        self._cloud_map_nodes = bool(directory.cloud_map_nodes())

    def nodes_of(self, task: TaskDetail) -> list[NodeInfo]:
        return self._by_registry(task) or self._by_explicit_name(task) or self._by_service_name(task)

    def host_address(self, task: TaskDetail) -> str | None:
        """The private IP of the EC2 container instance a bridge/host-mode task runs on."""
        if not task.container_instance_arn:
            return None
        return self._host(task.cluster_arn, task.container_instance_arn)

    # ---- rule 1 ---------------------------------------------------------------------
    def _by_registry(self, task: TaskDetail) -> list[NodeInfo]:
        if task.service_name is None or not self._cloud_map_nodes:
            return []  # without a node discovered through Cloud Map, no registry can name one: ECS is not asked
        found: list[NodeInfo] = []
        for registry_arn in self._registries(task.cluster_arn, task.service_name):
            named = self._cloud_map_service(registry_arn.rsplit("/", 1)[-1])
            if named is not None:
                found.extend(self._directory.by_cloud_map(*named))
        return found

    def _registries_uncached(self, cluster: str, service: str) -> tuple[str, ...]:
        ecs = self._clients.ecs
        described: dict[str, Any] = _unless_missing(
            lambda: ecs.describe_services(cluster=cluster, services=[service]), {}
        )
        return tuple(
            registry["registryArn"]
            for svc in described.get("services", [])
            for registry in svc.get("serviceRegistries", [])
            if registry.get("registryArn")
        )

    def _cloud_map_service_uncached(self, service_id: str) -> tuple[str, str] | None:
        known = self._names.get(service_id) if self._names is not None else None
        if known is not None:
            return known
        sd = self._clients.servicediscovery
        try:
            service = sd.get_service(Id=service_id)["Service"]
            namespace = sd.get_namespace(Id=service["NamespaceId"])["Namespace"]
        except sd.exceptions.ServiceNotFound:
            return None
        except sd.exceptions.NamespaceNotFound:
            return None
        found = namespace["Name"], service["Name"]
        if self._names is not None:
            self._names.put(service_id, found)
        return found

    def cloud_map_service(self, service_id: str) -> tuple[str, str] | None:
        """(namespace name, service name) of a Cloud Map service id, cached."""
        return self._cloud_map_service(service_id)

    # ---- rule 2 ---------------------------------------------------------------------
    def _by_explicit_name(self, task: TaskDetail) -> list[NodeInfo]:
        if not self._directory.nodes:
            return []  # no node for a name to name: neither the task nor its definition is read
        for candidate in self._explicit_names(task):
            try:
                proxy = ProxyId.parse(candidate)
            except ValueError:
                continue
            if proxy.kind is Kind.VIRTUAL_NODE:
                info = self._directory.get_by(proxy.mesh, proxy.name)
                if info is not None:
                    return [info]
        return []

    def _explicit_names(self, task: TaskDetail) -> list[str]:
        names: list[str] = []
        described: dict[str, Any] = _unless_missing(
            lambda: self._clients.ecs.describe_tasks(cluster=task.cluster_arn, tasks=[task.task_arn], include=["TAGS"]),
            {},
        )
        tags = [tag for found in described.get("tasks", []) for tag in found.get("tags", [])]
        names += [tag["value"] for tag in tags if tag.get("key") == LABEL and tag.get("value")]
        for override in task.overrides.container_overrides:
            names += [kv.value for kv in override.environment if kv.name in ENV_NAMES and kv.value]
        for container in self._task_definition(task.task_definition_arn):
            if container.get("dockerLabels", {}).get(LABEL):
                names.append(container["dockerLabels"][LABEL])
            environment = container.get("environment", [])
            names += [kv["value"] for kv in environment if kv.get("name") in ENV_NAMES and kv.get("value")]
        return names

    def _task_definition_uncached(self, arn: str) -> tuple[dict[str, Any], ...]:
        ecs = self._clients.ecs
        described: dict[str, Any] = _unless_missing(lambda: ecs.describe_task_definition(taskDefinition=arn), {})
        return tuple(described.get("taskDefinition", {}).get("containerDefinitions", []))

    # ---- rule 3 ---------------------------------------------------------------------
    def _by_service_name(self, task: TaskDetail) -> list[NodeInfo]:
        return self._directory.by_name(task.service_name) if task.service_name else []

    # ---- bridge / host networking ---------------------------------------------------
    def _host_uncached(self, cluster: str, container_instance: str) -> str | None:
        described: dict[str, Any] = _unless_missing(
            lambda: self._clients.ecs.describe_container_instances(
                cluster=cluster, containerInstances=[container_instance]
            ),
            {},
        )
        instances = described.get("containerInstances", [])
        if not instances or not instances[0].get("ec2InstanceId"):
            return None
        reservations = self._clients.ec2.describe_instances(InstanceIds=[instances[0]["ec2InstanceId"]])["Reservations"]
        for reservation in reservations:
            for instance in reservation.get("Instances", []):
                if instance.get("PrivateIpAddress"):
                    return str(instance["PrivateIpAddress"])
        return None
