"""The pipeline end to end, against `meshplane local up`: events in, per-proxy snapshots in S3 out."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from botocore.exceptions import ClientError
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.types import XdsType

pytestmark = pytest.mark.emulator
EVENTS = Path(__file__).resolve().parents[2] / "events"
T = TypeVar("T")


def eventually(probe: Callable[[], T | None], timeout: float = 60, what: str = "condition") -> T:
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def listener(port: int) -> dict[str, Any]:
    return {"portMapping": {"port": port, "protocol": "http"}}


def snapshot_of(stack: Any, mesh: str, node: str) -> Snapshot | None:
    s3 = stack.client("s3")
    try:
        pointer = json.loads(s3.get_object(Bucket=stack.bucket, Key=f"pointers/{mesh}/virtualNode/{node}.json")[
            "Body"].read())
    except ClientError as error:  # not published yet
        if error.response["Error"]["Code"] in ("NoSuchKey", "404", "403", "AccessDenied"):
            return None
        raise
    return Snapshot.loads(s3.get_object(Bucket=stack.bucket, Key=pointer["key"])["Body"].read())


def addresses(snapshot: Snapshot | None, cluster: str) -> list[str]:
    if snapshot is None or cluster not in snapshot.of(XdsType.ENDPOINTS):
        return []
    cla = snapshot.of(XdsType.ENDPOINTS)[cluster]
    return sorted(lb.endpoint.address.socket_address.address for loc in cla.endpoints for lb in loc.lb_endpoints)


def caller_mesh(stack: Any, backend_spec: dict[str, Any]) -> tuple[str, str]:
    """A mesh where `front` calls `back.svc`, provided by node `back`; returns (mesh, back's egress cluster)."""
    mesh = f"e2e-{uuid.uuid4().hex[:8]}"
    appmesh = stack.appmesh()
    appmesh.create_mesh(meshName=mesh)
    appmesh.create_virtual_node(meshName=mesh, virtualNodeName="back", spec=backend_spec)
    appmesh.create_virtual_service(meshName=mesh, virtualServiceName="back.svc",
                                   spec={"provider": {"virtualNode": {"virtualNodeName": "back"}}})
    appmesh.create_virtual_node(meshName=mesh, virtualNodeName="front", spec={
        "listeners": [listener(9000)], "backends": [{"virtualService": {"virtualServiceName": "back.svc"}}]})
    return mesh, f"cds_egress_{mesh}_back_http_8080"


def test_an_ecs_task_running_then_stopped_adds_then_removes_its_endpoint(local_stack: Any) -> None:
    mesh, cluster = caller_mesh(local_stack, {"listeners": [listener(8080)]})
    event = json.loads((EVENTS / "ecs_task_running_fargate.json").read_text())
    detail = event["detail"]
    detail["taskArn"] = detail["taskArn"].rsplit("/", 1)[0] + "/" + uuid.uuid4().hex
    detail["overrides"]["containerOverrides"][1]["environment"] = [
        {"name": "APPMESH_VIRTUAL_NODE_NAME", "value": f"mesh/{mesh}/virtualNode/back"}]
    detail["group"] = "family:back"
    events = local_stack.client("events")

    def send(detail: dict[str, Any]) -> None:
        response = events.put_events(Entries=[{"Source": "aws.ecs", "DetailType": "ECS Task State Change",
                                               "Resources": [detail["taskArn"]], "Detail": json.dumps(detail)}])
        assert response["FailedEntryCount"] == 0

    send(detail)
    eventually(lambda: addresses(snapshot_of(local_stack, mesh, "front"), cluster) == ["10.0.1.25"],
               what="the endpoint in front's snapshot")
    stopped = dict(detail, lastStatus="STOPPED", desiredStatus="STOPPED", version=detail["version"] + 3,
                   updatedAt="2026-11-25T11:00:30.789Z")
    send(stopped)
    eventually(lambda: snapshot_of(local_stack, mesh, "front") is not None
               and addresses(snapshot_of(local_stack, mesh, "front"), cluster) == [],
               what="the endpoint gone from front's snapshot")


def test_cloud_map_register_and_deregister_reach_snapshots(local_stack: Any) -> None:
    sd = local_stack.client("servicediscovery")
    namespace_name = f"ns-{uuid.uuid4().hex[:8]}.local"
    sd.create_http_namespace(Name=namespace_name)
    namespace = next(n["Id"] for n in sd.list_namespaces()["Namespaces"] if n["Name"] == namespace_name)
    service = sd.create_service(Name="back", NamespaceId=namespace)["Service"]["Id"]
    mesh, cluster = caller_mesh(local_stack, {
        "listeners": [listener(8080)],
        "serviceDiscovery": {"awsCloudMap": {"namespaceName": namespace_name, "serviceName": "back"}}})

    sd.register_instance(ServiceId=service, InstanceId="i-1", Attributes={"AWS_INSTANCE_IPV4": "10.2.0.1"})
    eventually(lambda: addresses(snapshot_of(local_stack, mesh, "front"), cluster) == ["10.2.0.1"],
               what="the registered instance in front's snapshot")
    sd.deregister_instance(ServiceId=service, InstanceId="i-1")
    eventually(lambda: snapshot_of(local_stack, mesh, "front") is not None
               and addresses(snapshot_of(local_stack, mesh, "front"), cluster) == [],
               what="the deregistered instance gone")


def test_a_route_update_changes_only_the_snapshots_of_proxies_using_that_route(local_stack: Any) -> None:
    mesh = f"e2e-{uuid.uuid4().hex[:8]}"
    appmesh = local_stack.appmesh()
    appmesh.create_mesh(meshName=mesh)
    for node in ("blue", "red"):
        appmesh.create_virtual_node(meshName=mesh, virtualNodeName=node, spec={"listeners": [listener(8080)]})
    for router, caller in (("r1", "front"), ("r2", "side")):
        appmesh.create_virtual_router(meshName=mesh, virtualRouterName=router, spec={"listeners": [listener(8080)]})
        appmesh.create_route(meshName=mesh, virtualRouterName=router, routeName="all", spec={"httpRoute": {
            "match": {"prefix": "/"}, "action": {"weightedTargets": [{"virtualNode": "blue", "weight": 1}]}}})
        appmesh.create_virtual_service(meshName=mesh, virtualServiceName=f"{router}.svc",
                                       spec={"provider": {"virtualRouter": {"virtualRouterName": router}}})
        appmesh.create_virtual_node(meshName=mesh, virtualNodeName=caller, spec={
            "listeners": [listener(9000)], "backends": [{"virtualService": {"virtualServiceName": f"{router}.svc"}}]})
    before = {n: eventually(lambda n=n: snapshot_of(local_stack, mesh, n), what=f"{n}'s first snapshot")
              for n in ("front", "side", "blue", "red")}

    appmesh.update_route(meshName=mesh, virtualRouterName="r1", routeName="all", spec={"httpRoute": {
        "match": {"prefix": "/"}, "action": {"weightedTargets": [{"virtualNode": "red", "weight": 1}]}}})
    front = eventually(lambda: (s := snapshot_of(local_stack, mesh, "front")) and s.version != before["front"].version
                       and s, what="front's new snapshot")
    assert f"cds_egress_{mesh}_red_http_8080" in front.of(XdsType.CLUSTERS)
    time.sleep(3)  # give any wrong extra publish the time to land
    for node in ("side", "blue", "red"):
        assert snapshot_of(local_stack, mesh, node).version == before[node].version
