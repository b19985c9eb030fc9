"""The reconcile's sweep re-reads Cloud Map services concurrently, so its duration in Lambda is the calls' latency
over `SWEEP_THREADS`, not their sum.

Two refreshes wait for each other at a barrier: one after another, the first would wait alone
until the barrier's timeout breaks it; concurrently, both pass at once.
"""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest
from meshplane.pipeline.directory import NodeInfo
from meshplane.pipeline.reconcile import SWEEP_THREADS, Reconciler
from meshplane.pipeline.telemetry import Telemetry
from meshplane.store.endpoints import NodeRef


class Meeting:
    """A discovery whose refreshes all wait until `parties` of them are running at once."""

    def __init__(self, parties: int) -> None:
        self.barrier = threading.Barrier(parties, timeout=5)

    def refresh(self, node: NodeInfo) -> bool:
        self.barrier.wait()
        return node.ref.node.endswith("0")


def _reconciler(discovery: Any) -> Reconciler:
    return Reconciler(clients=None, table="t", list_meshes=list, discovery=discovery, endpoints=None,  # type: ignore[arg-type]
                      recomputer=None, mapper=None, telemetry=Telemetry.from_env(io.StringIO()),  # type: ignore[arg-type]
                      sweep_seconds=0)


@pytest.mark.parametrize("nodes", [2, SWEEP_THREADS])
def test_the_sweep_refreshes_cloud_map_services_at_once(nodes: int) -> None:
    listed = [NodeInfo(NodeRef("m", f"n{i}"), None, None) for i in range(nodes)]  # type: ignore[arg-type]
    refreshed = _reconciler(Meeting(nodes))._refresh(listed)
    assert refreshed == [f"m/n{i}" for i in range(nodes) if str(i).endswith("0")]
