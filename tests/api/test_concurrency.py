"""Parallel updates of one resource: each is applied with its own version or refused, none is lost."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

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
