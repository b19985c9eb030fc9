"""Through `meshplane local up`: a hot route change above the threshold reaches every caller through shards.

The stack is the repository's template with a threshold of 3 and shards of 2, so the
six callers of one route make three shards; the local runtime plays the shard queue's
MaximumConcurrency with up to one poller and one warm worker per core, the same handler
code as the deployed function.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from meshplane.local import trace
from meshplane.local.harness import LocalStack, start_local_up, stop_local_up
from meshplane.localnet.waiting import wait_until
from meshplane.model.ids import Kind, ProxyId
from meshplane.publication.layout import pointer_key

from .test_shards import GENERATION

MESH, CALLERS = "hotlocal", 6


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    stack = start_local_up(tmp_path_factory.mktemp("shards-local"), "--no-ads", "--stream-poll-interval", "0.05",
                           "--parameter", "ShardThreshold=3", "--parameter", "ShardSize=2")
    try:
        yield stack
    finally:
        stop_local_up(stack)


def route(appmesh: Any, generation: int, *, create: bool = False) -> None:
    spec = {"httpRoute": {"match": {"prefix": f"/gen{generation:03d}/"}, "action": {"weightedTargets": [
        {"virtualNode": "blue", "weight": 1 + generation}, {"virtualNode": "red", "weight": 1}]}}}
    call = appmesh.create_route if create else appmesh.update_route
    call(meshName=MESH, virtualRouterName="router", routeName="route", spec=spec)


def generation(stack: LocalStack, proxy: ProxyId) -> int | None:
    s3 = stack.client("s3")
    try:
        pointer = json.loads(s3.get_object(Bucket=stack.bucket, Key=pointer_key(proxy))["Body"].read())
    except s3.exceptions.NoSuchKey:
        return None
    found = set(GENERATION.findall(s3.get_object(Bucket=stack.bucket, Key=pointer["key"])["Body"].read()))
    return int(found.pop()) if len(found) == 1 else None


def test_a_hot_route_change_is_published_for_every_caller_by_the_shard_function(stack: LocalStack) -> None:
    appmesh = stack.appmesh()
    listener = [{"portMapping": {"port": 8080, "protocol": "http"}}]
    appmesh.create_mesh(meshName=MESH)
    for node in ("blue", "red"):
        appmesh.create_virtual_node(meshName=MESH, virtualNodeName=node, spec={"listeners": listener})
    appmesh.create_virtual_router(meshName=MESH, virtualRouterName="router", spec={"listeners": listener})
    route(appmesh, 0, create=True)
    appmesh.create_virtual_service(meshName=MESH, virtualServiceName="hot.local",
                                   spec={"provider": {"virtualRouter": {"virtualRouterName": "router"}}})
    callers = [ProxyId(MESH, Kind.VIRTUAL_NODE, f"caller-{i}") for i in range(CALLERS)]
    for caller in callers:
        appmesh.create_virtual_node(meshName=MESH, virtualNodeName=caller.name, spec={
            "listeners": listener, "backends": [{"virtualService": {"virtualServiceName": "hot.local"}}]})
    wait_until(lambda: all(generation(stack, c) == 0 for c in callers), 60, 0.2, "the first publish")

    before = stack.function_stats()["RecomputeShardFunction"]["invocations"]
    route(appmesh, 1)
    wait_until(lambda: all(generation(stack, c) == 1 for c in callers), 60, 0.2, "every caller on the new route")

    # Six callers above a threshold of 3: three shards of two.  A shard's pointers are visible before its
    # invocation returns and is counted, so the count is awaited, not read once.
    wait_until(lambda: stack.function_stats()["RecomputeShardFunction"]["invocations"] - before >= 3, 30, 0.1,
               "three shard invocations counted")
    shards = [line for line in trace.read(stack.state_dir / trace.TRACE_FILE)
              if line["function"] == "RecomputeShardFunction"]
    stats = stack.function_stats()["RecomputeShardFunction"]
    assert stats["errors"] == 0, stats["lastError"]
    assert all(line["ok"] for line in shards)
