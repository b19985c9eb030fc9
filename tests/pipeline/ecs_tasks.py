"""Real ECS tasks in moto, and the Task State Change events ECS would send for them."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .conftest import World, sample


@contextmanager
def tasks_stay_running() -> Iterator[None]:
    """moto advances a task's lastStatus on every DescribeTasks; ECS keeps it RUNNING until it is stopped."""
    from moto.moto_api import state_manager

    state_manager.set_transition(model_name="ecs::task", transition={"progression": "manual", "times": 10**9})
    try:
        yield
    finally:
        state_manager.unset_transition(model_name="ecs::task")


@dataclass
class Cluster:
    """An ECS cluster in moto with a Fargate task definition for the `colors-blue` ECS service."""

    world: World
    arn: str
    subnet: str

    @classmethod
    def create(cls, world: World) -> Cluster:
        ecs, ec2 = world.clients.ecs, world.clients.ec2
        vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})  # ENIs get a private DNS name
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.7.1.0/24")["Subnet"]["SubnetId"]
        arn = ecs.create_cluster(clusterName=f"colors-{uuid.uuid4().hex[:8]}")["cluster"]["clusterArn"]
        ecs.register_task_definition(family="colors-blue", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
                                     cpu="256", memory="512",
                                     containerDefinitions=[{"name": "app", "image": "colors:1", "memory": 512,
                                                            "portMappings": [{"containerPort": 8080}]}])
        return cls(world, arn, subnet)

    def run(self) -> dict[str, Any]:
        return self.world.clients.ecs.run_task(
            cluster=self.arn, taskDefinition="colors-blue", launchType="FARGATE", group="service:colors-blue",
            networkConfiguration={"awsvpcConfiguration": {"subnets": [self.subnet], "securityGroups": []}},
        )["tasks"][0]

    def stop(self, task: dict[str, Any]) -> None:
        self.world.clients.ecs.stop_task(cluster=self.arn, task=task["taskArn"], reason="scaled in")

    def event(self, task: dict[str, Any], version: int) -> dict[str, Any]:
        """The Task State Change event ECS would have sent for the task as it is now."""
        described = self.world.clients.ecs.describe_tasks(cluster=self.arn, tasks=[task["taskArn"]])["tasks"][0]
        event = copy.deepcopy(sample("ecs_task_running_fargate.json"))
        event["id"] = str(uuid.uuid4())
        event["resources"] = [described["taskArn"]]
        # An event's detail is the task in DescribeTasks' shape, plus `updatedAt` (moto has no `version`).
        event["detail"] = {**json.loads(json.dumps(described, default=str)),
                           "version": version, "updatedAt": "2026-11-25T10:00:21.456Z"}
        return event


def eni_address(task: dict[str, Any]) -> str:
    details = {d["name"]: d["value"] for a in task["attachments"] for d in a["details"]}
    return details["privateIPv4Address"]
