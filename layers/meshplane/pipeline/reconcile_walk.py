"""A sweep or an ECS pass taken a chunk at a time, so that it fits any number of invocations.

At 10,000 nodes a sweep makes tens of thousands of calls (a DiscoverInstances and a Query
per node, at least), more than one invocation of the reconcile has time for.  A walk
that timed out wrote nothing and began again a minute later, timing out again every
time.  Now each invocation takes chunks (`CHUNK` nodes, or `DESCRIBE_LIMIT` tasks, or
one mesh) while more than `RESERVE_SECONDS` are left, and its marks keep where it
stopped (`reconcile_marks.Walk`).  Things are taken in key order, so what the walk has
passed stays passed; what changes behind it is the change markers' to find (a new or
changed node, a Cloud Map operation, a different set of running tasks), and the next
sweep's.
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from meshplane.pipeline.ecs_reconcile import DESCRIBE_LIMIT, EcsReconcile
from meshplane.pipeline.reconcile_marks import Stage, Walk, task_digest
from meshplane.pipeline.wiring import MAX_POOL_CONNECTIONS

if TYPE_CHECKING:
    from meshplane.pipeline.directory import NodeInfo
    from meshplane.pipeline.node_directory import Nodes
    from meshplane.store.endpoints import NodeRef

CHUNK = 4 * MAX_POOL_CONNECTIONS  # nodes a step takes: a few rounds of the threads' calls, a second or two in Lambda
RESERVE_SECONDS = 20.0  # left for the step under way, the recompute of what the walk touched and the marks' write

Key = tuple[str, ...]


@dataclass
class WalkSteps:
    """The stages' steps in one invocation.  `refresh` re-reads Cloud Map nodes (the nodes whose endpoints
    moved), `recompute_mesh` rebuilds one mesh in full; both are the reconciler's."""

    nodes: Callable[[], Nodes]
    meshes: list[str]
    ecs: Callable[[], EcsReconcile]
    refresh: Callable[[Iterable[NodeInfo]], list[str]]
    recompute_mesh: Callable[[str], None]
    last_ecs_clusters: tuple[str, ...]
    refreshed: list[str] = field(default_factory=list)  # mesh/node of the Cloud Map nodes whose endpoints moved
    recomputed: set[str] = field(default_factory=set)  # meshes rebuilt in full by this invocation
    _orders: dict[Stage, _Ordered] = field(default_factory=dict)

    def run(self, walk: Walk, seconds_left: Callable[[], float]) -> tuple[Walk | None, Walk | None]:
        """Steps while time is left: the walk as it stands (None once done), and the walk as it finished (None
        unless it did)."""
        current = walk
        while seconds_left() > RESERVE_SECONDS:
            stepped = self.step(current)
            if stepped is None:
                return None, current
            current = stepped
        return current, None

    def step(self, walk: Walk) -> Walk | None:
        """One chunk of the walk's stage, or the move to its next stage; None once its last stage is done."""
        if walk.stage is Stage.CLOUD_MAP:
            return self._cloud_map(walk)
        if walk.stage is Stage.ECS_STORED:
            return self._ecs_stored(walk)
        if walk.stage is Stage.ECS_RUNNING:
            return self._ecs_running(walk)
        return self._recompute(walk)

    def _ordered(self, stage: Stage, listed: Callable[[], list[tuple[Key, Any]]]) -> _Ordered:
        """What `stage` walks, in key order, sorted once an invocation (a step takes a chunk of it)."""
        if stage not in self._orders:
            self._orders[stage] = _Ordered(sorted(listed(), key=lambda pair: pair[0]))
        return self._orders[stage]

    def _cloud_map(self, walk: Walk) -> Walk | None:
        directory = self.nodes().directory
        chunk = self._ordered(walk.stage, lambda: [(_node_key(i.ref), i) for i in directory.cloud_map_nodes()]
                              ).after(walk.after, CHUNK)
        if not chunk:
            return walk.next_stage()
        self.refreshed += self.refresh(chunk)
        return walk.advanced(_node_key(chunk[-1].ref))

    def _ecs_stored(self, walk: Walk) -> Walk | None:
        ecs = self.ecs()
        if not walk.after:  # the ECS stages begin: the running tasks they are compared with
            clusters = ecs.configured or self.last_ecs_clusters
            walk = dataclasses.replace(walk, ecs_digest=task_digest(ecs.listings.running_in(clusters)),
                                       ecs_clusters=tuple(sorted(clusters)))
        chunk = self._ordered(walk.stage, lambda: [(_node_key(ref), ref) for ref in self.nodes().directory.nodes]
                              ).after(walk.after, CHUNK)
        if not chunk:
            return walk.next_stage()
        named = ecs.settle_stored(chunk)
        if not ecs.configured:
            walk = dataclasses.replace(walk, ecs_clusters=tuple(sorted({*walk.ecs_clusters, *named})))
        return walk.advanced(_node_key(chunk[-1]))

    def _ecs_running(self, walk: Walk) -> Walk | None:
        ecs = self.ecs()
        chunk = self._ordered(walk.stage, lambda: [((cluster, arn), (cluster, arn)) for cluster in walk.ecs_clusters
                                                   for arn in ecs.listings.running(cluster)]
                              ).after(walk.after, DESCRIBE_LIMIT)
        if not chunk:
            return walk.next_stage()
        for cluster in sorted({cluster for cluster, _ in chunk}):
            ecs.apply_running(cluster, [arn for c, arn in chunk if c == cluster])
        return walk.advanced(chunk[-1])

    def _recompute(self, walk: Walk) -> Walk | None:
        chunk = self._ordered(walk.stage, lambda: [((mesh,), mesh) for mesh in self.meshes]).after(walk.after, 1)
        if not chunk:
            return walk.next_stage()
        self.recompute_mesh(chunk[0])
        self.recomputed.add(chunk[0])
        return walk.advanced((chunk[0],))


def _node_key(ref: NodeRef) -> Key:
    return (ref.mesh, ref.node)


class _Ordered:
    """Items sorted by their keys: the chunk past a cursor is found by bisection."""

    def __init__(self, pairs: list[tuple[Key, Any]]) -> None:
        self._keys = [key for key, _ in pairs]
        self._items = [item for _, item in pairs]

    def after(self, cursor: Key, limit: int) -> list[Any]:
        """The first `limit` items whose keys sort past `cursor`."""
        start = bisect_right(self._keys, cursor)
        return self._items[start:start + limit]
