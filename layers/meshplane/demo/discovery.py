"""Register the demo's instances the way AWS would: Cloud Map and ECS, never the tables.

- Cloud Map: an HTTP namespace with one service per virtual node; an instance
  registers with `AWS_INSTANCE_IPV4` / `AWS_INSTANCE_PORT` (its sidecar's ingress).
  In AWS, CloudTrail then puts an "AWS API Call via CloudTrail" event on the default
  bus. `local up`'s emulator does the same; another emulator (`AWS_ENDPOINT_URL`) may
  record no CloudTrail, so the demo also puts that record itself. A second record
  changes nothing: it only names the service, and discovery re-reads Cloud Map.
- ECS on EC2: a cluster with one container instance, a bridge-mode task definition per
  node whose Envoy container names the node (`APPMESH_VIRTUAL_NODE_NAME`), a task from
  `RunTask`, then the "ECS Task State Change" event ECS itself would emit, put on
  EventBridge: the app container's `networkBindings` map the listener port to the
  sidecar's ingress port on the instance's address.
"""

from __future__ import annotations

import datetime
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from meshplane.demo.plan import APP_PORT, INGRESS_PORT, ZONES, Instance, Plan


@dataclass
class CloudMap:
    """The demo namespace and its services (ids by node name)."""

    namespace_id: str = ""
    service_ids: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, sd: Any, plan: Plan, nodes: tuple[str, ...]) -> CloudMap:
        operation = sd.create_http_namespace(Name=plan.namespace, CreatorRequestId=f"{plan.mesh}-ns")
        namespace_id = sd.get_operation(OperationId=operation["OperationId"])["Operation"]["Targets"]["NAMESPACE"]
        services = {
            node: sd.create_service(Name=node, NamespaceId=namespace_id, CreatorRequestId=f"{plan.mesh}-{node}")[
                "Service"
            ]["Id"]
            for node in nodes
        }
        return cls(namespace_id, services)

    def register(self, sd: Any, events: Any, instance: Instance) -> None:
        parameters = {
            "ServiceId": self.service_ids[instance.node],
            "InstanceId": instance.name,
            "Attributes": {"AWS_INSTANCE_IPV4": instance.address, "AWS_INSTANCE_PORT": str(INGRESS_PORT),
                           **({"AVAILABILITY_ZONE": instance.zone} if instance.zone else {})},
        }
        sd.register_instance(**parameters)
        _put(events, cloudtrail_record("RegisterInstance", parameters, sd.meta.region_name))


@dataclass
class EcsCluster:
    """An ECS cluster in the emulator; each task gets an EC2 container instance of its own.

    Bridge mode binds the sidecar's fixed port 15000 on the host, so, as in AWS, two
    such tasks cannot share a host: one host per task, its address the task's loopback.
    """

    cluster_arn: str
    ec2: Any
    task_definitions: dict[str, str] = field(default_factory=dict)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)  # instance name -> StartTask's task

    @classmethod
    def create(cls, ecs: Any, ec2: Any, plan: Plan) -> EcsCluster:
        return cls(ecs.create_cluster(clusterName=plan.mesh)["cluster"]["clusterArn"], ec2)

    def _host(self, ecs: Any) -> str:
        """Launch an EC2 instance and register it as a container instance; returns its ARN."""
        image = self.ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        host = self.ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]
        identity = {"instanceId": host["InstanceId"], "region": self.ec2.meta.region_name,
                    "availabilityZone": host["Placement"]["AvailabilityZone"]}  # fmt: skip
        return str(ecs.register_container_instance(cluster=self.cluster_arn, instanceIdentityDocument=json.dumps(
            identity))["containerInstance"]["containerInstanceArn"])  # fmt: skip

    def task_definition(self, ecs: Any, plan: Plan, node: str) -> str:
        """One bridge-mode family per node: the app plus the Envoy container that names the node."""
        if node not in self.task_definitions:
            self.task_definitions[node] = ecs.register_task_definition(
                family=f"{plan.mesh}-{node}",
                networkMode="bridge",
                containerDefinitions=[
                    {"name": "app", "image": "meshplane-demo-app", "memory": 128, "essential": True,
                     "portMappings": [{"containerPort": APP_PORT, "hostPort": INGRESS_PORT, "protocol": "tcp"}]},
                    {"name": "envoy", "image": "envoyproxy/envoy:v1.40", "memory": 128, "essential": True,
                     "environment": [{"name": "APPMESH_VIRTUAL_NODE_NAME",
                                      "value": f"mesh/{plan.mesh}/virtualNode/{node}"}]},
                ],
            )["taskDefinition"]["taskDefinitionArn"]  # fmt: skip
        return self.task_definitions[node]

    def run(self, ecs: Any, events: Any, plan: Plan, instance: Instance, bus: str) -> str:
        """StartTask on a fresh host, then announce RUNNING on EventBridge as ECS would; returns the task ARN."""
        definition = self.task_definition(ecs, plan, instance.node)
        node_tag = {"key": "appmesh.virtualNode", "value": f"mesh/{plan.mesh}/virtualNode/{instance.node}"}
        started = ecs.start_task(cluster=self.cluster_arn, taskDefinition=definition, tags=[node_tag],
                                 containerInstances=[self._host(ecs)], startedBy="meshplane-demo")  # fmt: skip
        if not started.get("tasks"):
            raise RuntimeError(f"ECS StartTask placed no task for {instance.name}: {started.get('failures')}")
        task = started["tasks"][0]
        self.tasks[instance.name] = task
        self._announce(events, instance, task, "RUNNING", version=2, bus=bus)
        return str(task["taskArn"])

    def _announce(self, events: Any, instance: Instance, task: dict[str, Any], status: str, *, version: int,
                  bus: str) -> None:  # fmt: skip
        detail = task_state_change(self, instance, task, status, version)
        _put(events, {"Source": "aws.ecs", "DetailType": "ECS Task State Change", "EventBusName": bus,
                      "Resources": [task["taskArn"]], "Detail": json.dumps(detail)})  # fmt: skip


def _put(events: Any, entry: dict[str, Any]) -> None:
    result = events.put_events(Entries=[entry])
    if result.get("FailedEntryCount"):
        raise RuntimeError(f"EventBridge rejected {entry['DetailType']}: {result['Entries']}")


def cloudtrail_record(name: str, parameters: dict[str, Any], region: str) -> dict[str, Any]:
    """The EventBridge entry CloudTrail emits for a Cloud Map API call (camelCase request parameters)."""
    request = {key[0].lower() + key[1:]: value for key, value in parameters.items()}
    detail = {
        "eventVersion": "1.08", "eventTime": _now()[:-5] + "Z", "eventSource": "servicediscovery.amazonaws.com",
        "eventName": name, "awsRegion": region, "sourceIPAddress": "127.0.0.1", "userAgent": "meshplane-demo",
        "requestParameters": request, "responseElements": None, "eventID": str(uuid.uuid4()),
        "readOnly": False, "eventType": "AwsApiCall", "managementEvent": True,
    }  # fmt: skip
    return {"Source": "aws.servicediscovery", "DetailType": "AWS API Call via CloudTrail",
            "Detail": json.dumps(detail)}  # fmt: skip


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def task_state_change(cluster: EcsCluster, instance: Instance, task: dict[str, Any], status: str,
                      version: int) -> dict[str, Any]:  # fmt: skip
    """The `detail` of an ECS Task State Change for a bridge-mode task on EC2, as ECS emits it."""
    now = _now()
    task_arn = task["taskArn"]
    stopped = status == "STOPPED"
    bindings = [] if stopped else [
        {"bindIP": instance.address, "containerPort": APP_PORT, "hostPort": INGRESS_PORT, "protocol": "tcp"}
    ]  # fmt: skip
    containers = [
        {"containerArn": f"{task_arn.replace(':task/', ':container/')}/{uuid.uuid4()}", "lastStatus": status,
         "name": name, "image": image, "taskArn": task_arn, "networkBindings": bindings if name == "app" else [],
         "cpu": "0", "memory": "128"}
        for name, image in (("app", "meshplane-demo-app"), ("envoy", "envoyproxy/envoy:v1.40"))
    ]  # fmt: skip
    detail: dict[str, Any] = {
        "attachments": [],
        "availabilityZone": instance.zone or ZONES[0],
        "clusterArn": cluster.cluster_arn,
        "containerInstanceArn": task["containerInstanceArn"],
        "containers": containers,
        "createdAt": now,
        "launchType": "EC2",
        "cpu": "256",
        "memory": "256",
        "desiredStatus": status,
        "group": f"family:{task['taskDefinitionArn'].rsplit('/', 1)[-1].split(':')[0]}",
        "lastStatus": status,
        "overrides": {"containerOverrides": [{"name": "app"}, {"name": "envoy"}]},
        "connectivity": "CONNECTED",
        "startedBy": "meshplane-demo",
        "taskArn": task_arn,
        "taskDefinitionArn": task["taskDefinitionArn"],
        "updatedAt": now,
        "version": version,
    }
    if stopped:
        detail.update(stoppedAt=now, stoppedReason="meshplane demo", stopCode="UserInitiated")
    else:
        detail.update(startedAt=now, pullStartedAt=now, pullStoppedAt=now)
    return detail
