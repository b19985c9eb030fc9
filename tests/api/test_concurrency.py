"""Races: parallel writers each win alone or are refused with an App Mesh error, and nothing is lost or left behind.

The first test runs against the API in-process; the others go through `meshplane local up`, as
a user's tests would, so its emulator must be as atomic as DynamoDB where meshplane relies on it.
"""

from __future__ import annotations

import functools
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from .specs import node_spec

WRITERS = 8


def test_parallel_updates_are_applied_with_distinct_versions_or_refused_as_conflicts(stack: Any, mesh: str) -> None:
    stack.appmesh().create_virtual_node(meshName=mesh, virtualNodeName="hot", spec=node_spec(8000))
    start = threading.Barrier(WRITERS)

    def update(i: int) -> tuple[int, int | None, str | None]:
        client = stack.appmesh()
        start.wait()
        try:
            out = client.update_virtual_node(meshName=mesh, virtualNodeName="hot", spec=node_spec(9000 + i))
        except client.exceptions.ConflictException as exc:
            return i, None, exc.response["Error"]["Message"]
        return i, out["virtualNode"]["metadata"]["version"], None

    with ThreadPoolExecutor(WRITERS) as pool:
        results = list(pool.map(update, range(WRITERS)))

    applied = {i: version for i, version, _ in results if version is not None}
    refused = [message for _, version, message in results if version is None]
    assert applied, "at least one writer must win"
    assert len(applied) + len(refused) == WRITERS
    assert sorted(applied.values()) == list(range(2, 2 + len(applied))), "each applied update has its own version"
    assert all("retry" in message for message in refused)
    final = stack.appmesh().describe_virtual_node(meshName=mesh, virtualNodeName="hot")["virtualNode"]
    assert final["metadata"]["version"] == 1 + len(applied)
    last_writer = max(applied, key=applied.__getitem__)
    assert final["spec"] == node_spec(9000 + last_writer), "the newest version holds the newest writer's spec"


# --- the same races through `meshplane local up`: its emulator must be as atomic as DynamoDB ---------------------

RACERS = 20
LOST_RACE = frozenset({"ConflictException", "NotFoundException", "ResourceInUseException"})


class Racers:
    """RACERS threads on one boto3 appmesh client of a running local up, started together, each call's outcome kept."""

    def __init__(self, local_stack: Any) -> None:
        import boto3
        from botocore.config import Config

        self.appmesh = boto3.client(
            "appmesh", endpoint_url=local_stack.api_url, region_name="us-east-1", aws_access_key_id="testing",
            aws_secret_access_key="testing", config=Config(retries={"max_attempts": 1}, max_pool_connections=32))
        self.dynamodb, self.table = local_stack.client("dynamodb"), local_stack.table

    def race(self, calls: list[Callable[[], Any]]) -> list[str]:
        """Run the calls at once; each one's outcome is "ok" or its error code, never a server fault."""
        start = threading.Barrier(len(calls))

        def run(call: Callable[[], Any]) -> str:
            start.wait()
            try:
                call()
            except ClientError as exc:
                return str(exc.response["Error"]["Code"])
            return "ok"

        with ThreadPoolExecutor(len(calls)) as pool:
            outcomes = list(pool.map(run, calls))
        assert set(outcomes) <= {"ok", *LOST_RACE}, outcomes
        return outcomes

    def items(self, mesh: str) -> list[str]:
        """Every sort key stored in the mesh's partition, counters included, read from the table itself."""
        pages = self.dynamodb.get_paginator("query").paginate(
            TableName=self.table, KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"MESH#{mesh}"}}, ConsistentRead=True)
        return [item["sk"]["S"] for page in pages for item in page["Items"]]


def _empty_and_delete(appmesh: Any, mesh: str) -> None:
    """Delete what the mesh still holds, then the mesh: refused if any counter is off."""
    for service in appmesh.list_virtual_services(meshName=mesh)["virtualServices"]:
        appmesh.delete_virtual_service(meshName=mesh, virtualServiceName=service["virtualServiceName"])
    for node in appmesh.list_virtual_nodes(meshName=mesh)["virtualNodes"]:
        appmesh.delete_virtual_node(meshName=mesh, virtualNodeName=node["virtualNodeName"])
    appmesh.delete_mesh(meshName=mesh)


@pytest.mark.emulator
def test_through_local_up_racing_creates_of_one_name_have_exactly_one_winner(local_stack: Any) -> None:
    racers, mesh = Racers(local_stack), f"race-create-{uuid.uuid4().hex[:8]}"
    racers.appmesh.create_mesh(meshName=mesh)
    names = ["a", "b", "c", "d"]  # rounds: one race in an emulator without isolation may still come out right
    for name in names:
        outcomes = racers.race([functools.partial(racers.appmesh.create_virtual_node, meshName=mesh,
                                                  virtualNodeName=name, spec=node_spec(8080 + i))
                                for i in range(RACERS)])  # fmt: skip
        assert outcomes.count("ok") == 1 and outcomes.count("ConflictException") == RACERS - 1, outcomes
    assert sorted(n["virtualNodeName"] for n in racers.appmesh.list_virtual_nodes(meshName=mesh)["virtualNodes"]) \
        == names
    _empty_and_delete(racers.appmesh, mesh)
    assert racers.items(mesh) == []


@pytest.mark.emulator
def test_through_local_up_racing_references_and_deletes_leave_no_dangling_reference(local_stack: Any) -> None:
    """Half the racers create services naming a node, half delete and re-create that node, twice over."""
    racers, mesh = Racers(local_stack), f"race-refs-{uuid.uuid4().hex[:8]}"
    appmesh = racers.appmesh
    appmesh.create_mesh(meshName=mesh)
    for round_ in range(2):
        appmesh.create_virtual_node(meshName=mesh, virtualNodeName=f"target-{round_}", spec=node_spec(8080))

        def provide(i: int, round_: int = round_) -> None:
            appmesh.create_virtual_service(meshName=mesh, virtualServiceName=f"svc-{round_}-{i}.local", spec={
                "provider": {"virtualNode": {"virtualNodeName": f"target-{round_}"}}})

        def churn(i: int, round_: int = round_) -> None:
            target = f"target-{round_}"
            if i % 4 == 1:
                appmesh.delete_virtual_node(meshName=mesh, virtualNodeName=target)
            else:
                appmesh.create_virtual_node(meshName=mesh, virtualNodeName=target, spec=node_spec(8080))

        racers.race([functools.partial(provide if i % 2 == 0 else churn, i) for i in range(RACERS)])
    nodes = {n["virtualNodeName"] for n in appmesh.list_virtual_nodes(meshName=mesh)["virtualNodes"]}
    for service in appmesh.list_virtual_services(meshName=mesh)["virtualServices"]:
        spec = appmesh.describe_virtual_service(meshName=mesh, virtualServiceName=service["virtualServiceName"])[
            "virtualService"]["spec"]
        assert spec["provider"]["virtualNode"]["virtualNodeName"] in nodes, f"{service} names a deleted node"
    _empty_and_delete(appmesh, mesh)
    assert racers.items(mesh) == []


@pytest.mark.emulator
def test_through_local_up_a_mesh_deleted_while_children_are_created_keeps_nothing_behind(local_stack: Any) -> None:
    racers = Racers(local_stack)
    appmesh = racers.appmesh
    for _ in range(3):
        mesh = f"race-mesh-{uuid.uuid4().hex[:8]}"
        appmesh.create_mesh(meshName=mesh)
        calls = [functools.partial(appmesh.delete_mesh, meshName=mesh) if i % 2 else
                 functools.partial(appmesh.create_virtual_node, meshName=mesh, virtualNodeName=f"n-{i}",
                                   spec=node_spec(8080)) for i in range(RACERS)]  # fmt: skip
        outcomes = racers.race(calls)
        created = [f"n-{i}" for i in range(0, RACERS, 2) if outcomes[i] == "ok"]
        deletes = outcomes[1::2].count("ok")
        assert deletes <= 1, outcomes
        if deletes:
            assert created == [], outcomes  # a mesh that held a node cannot have been deleted
            assert racers.items(mesh) == [], "children or counters outlived their mesh"
        else:
            listed = sorted(n["virtualNodeName"] for n in appmesh.list_virtual_nodes(meshName=mesh)["virtualNodes"])
            assert listed == sorted(created)
            _empty_and_delete(appmesh, mesh)
            assert racers.items(mesh) == []
