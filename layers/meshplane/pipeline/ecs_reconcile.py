"""The periodic ECS pass of the reconcile: make the endpoint items match the tasks ECS runs.

Events are best-effort: one that arrived before its virtual node existed was mapped
to nothing, and a lost STOPPED event leaves an endpoint behind.  The pass works in
chunks, so that a walk (`pipeline.reconcile_walk`) can stop between any two and go on
at the next invocation:
- `settle_stored`: some nodes' stored ECS items are read; one whose task is no longer
  listed RUNNING is described: one ECS reports stopped or stopping, or MISSING, is
  tombstoned at `FINAL`, since a task never runs again once its desired status is
  STOPPED, so no later event can bring it back.  A cluster ECS does not know (a typo, or
  a deleted cluster) removes nothing.
- `apply_running`: some of a cluster's RUNNING tasks are described and each is sent
  through the event path (`ecs_discovery.apply_task`: same mapping, same ordering guard),
  writing only what differs from the store.

Ordering: DescribeTasks has no `updatedAt`, so the reconcile orders its writes as
(`version`, `OBSERVED`): below any event of the same version (an event describes the
same state, seen first-hand) and above every event of an older version.  Its
tombstone is `FINAL`, the highest order there is, so nothing can outrank it.

Which clusters: `MESHPLANE_ECS_CLUSTERS`, else the clusters stored endpoints name in
their `ECS_CLUSTER_NAME` attribute.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from meshplane.model.state import Endpoint
from meshplane.pipeline.directory import Directory
from meshplane.pipeline.ecs import CLUSTER_ATTRIBUTE, MAX_ARN_LENGTH, OBSERVED, Change, TaskDetail, change_of
from meshplane.pipeline.ecs_discovery import apply_task
from meshplane.pipeline.ecs_mapping import TaskMapper
from meshplane.pipeline.telemetry import Telemetry
from meshplane.pipeline.wiring import MAX_POOL_CONNECTIONS
from meshplane.store.endpoints import MAX_VERSION, EcsItem, EcsOrder, EndpointStore, NodeRef, Outcome

FINAL = EcsOrder(MAX_VERSION, "gone")
DESCRIBE_LIMIT = 100  # DescribeTasks takes at most 100 tasks per call
READ_THREADS = MAX_POOL_CONNECTIONS  # nodes' stored ECS items read at once (independent Queries)


class TaskListings:
    """Each cluster's RUNNING tasks, listed once per invocation (ListTasks, which ECS does not bill)."""

    def __init__(self, ecs: Any, telemetry: Telemetry) -> None:
        self._ecs = ecs
        self._t = telemetry
        self._listed: dict[str, list[str]] = {}

    def running(self, cluster: str) -> list[str]:
        if cluster not in self._listed:
            self._listed[cluster] = running_tasks(self._ecs, cluster, self._t)
        return self._listed[cluster]

    def running_in(self, clusters: Iterable[str]) -> dict[str, list[str]]:
        """The RUNNING tasks of each of `clusters` (what `reconcile_marks.task_digest` digests)."""
        return {cluster: self.running(cluster) for cluster in clusters}


@dataclass
class EcsReconcile:
    """The ECS pass's chunks in one invocation; `ecs` is the injected boto3 ECS client, `configured` the clusters
    `MESHPLANE_ECS_CLUSTERS` names (empty: those stored endpoints name)."""

    directory: Directory
    mapper: TaskMapper
    endpoints: EndpointStore
    ecs: Any
    telemetry: Telemetry
    listings: TaskListings
    configured: tuple[str, ...] = ()
    summary: dict[str, list[str]] = field(default_factory=lambda: {"upserted": [], "tombstoned": []})
    _stored: dict[NodeRef, list[EcsItem]] = field(default_factory=dict)  # the items read in this invocation

    def settle_stored(self, refs: Sequence[NodeRef]) -> set[str]:
        """Tombstone the stored endpoints of `refs` whose task stopped; the clusters their endpoints name."""
        self._read(refs)
        present = {(ref, item.instance_id): item for ref in refs for item in self._stored[ref] if item.endpoint}
        named = {cluster for item in present.values() if (cluster := _cluster_of(item.endpoint)) is not None}
        for cluster in self.configured or sorted(named):
            alive = {arn.rsplit("/", 1)[-1] for arn in self.listings.running(cluster)}
            leftover = [key for key, item in present.items()
                        if key[1] not in alive and _same_cluster(_cluster_of(item.endpoint), cluster)]
            if leftover:
                self._settle(cluster, leftover)
        return named

    def apply_running(self, cluster: str, arns: Sequence[str]) -> None:
        """Describe `arns` (at most `DESCRIBE_LIMIT`, all RUNNING in `cluster`) and write each task's endpoints where
        the store differs."""
        running, _ = self._describe(cluster, arns)
        self._read(sorted({node.ref for task in running for node in self.mapper.nodes_of(task)} - self._stored.keys(),
                          key=lambda ref: (ref.mesh, ref.node)))
        for task in running:
            self._apply(task)

    def _read(self, refs: Sequence[NodeRef]) -> None:
        """The stored ECS items of `refs` not read yet in this invocation, `READ_THREADS` Queries at once."""
        missing = [ref for ref in refs if ref not in self._stored]
        if not missing:
            return
        with ThreadPoolExecutor(max(1, min(READ_THREADS, len(missing)))) as pool:
            self._stored.update(zip(missing, pool.map(self.endpoints.ecs_items, missing), strict=True))

    def _settle(self, cluster: str, leftover: Sequence[tuple[NodeRef, str]]) -> None:
        found, missing = self._describe(cluster, sorted({instance_id for _, instance_id in leftover}))
        described = {task.task_id: task for task in found}
        for ref, instance_id in leftover:
            detail = described.get(instance_id)
            if instance_id in missing or (detail is not None and change_of(detail) is Change.DOWN):
                self._tombstone(ref, instance_id, FINAL)
            elif detail is not None and change_of(detail) is Change.UP:
                self._apply(detail)  # started between ListTasks and DescribeTasks

    def _apply(self, task: TaskDetail) -> None:
        def known(ref: NodeRef, endpoint: Endpoint | None) -> bool:
            return any(item.instance_id == task.task_id and item.endpoint == endpoint
                       for item in self._stored.get(ref, ()))

        result = apply_task(task, self.mapper, self.endpoints, self.telemetry, known=known)
        for node, outcome in result["nodes"].items():
            if outcome == Outcome.APPLIED.value:
                kind = "upserted" if change_of(task) is Change.UP else "tombstoned"
                self.summary[kind].append(f"{node}/{task.task_id}")

    def _tombstone(self, ref: NodeRef, instance_id: str, order: EcsOrder) -> None:
        with self.telemetry.traced("dynamodb.apply_endpoint"):
            outcome = self.endpoints.apply_ecs(ref, None, instance_id=instance_id, order=order)
        if outcome is Outcome.APPLIED:
            self.summary["tombstoned"].append(f"{ref.mesh}/{ref.node}/{instance_id}")

    # ---- ECS reads ------------------------------------------------------------------
    def _describe(self, cluster: str, tasks: Sequence[str]) -> tuple[list[TaskDetail], set[str]]:
        """The tasks ECS describes, and the ids it reports MISSING."""
        found: list[TaskDetail] = []
        missing: set[str] = set()
        for chunk in _chunks(tasks, DESCRIBE_LIMIT):
            try:
                page = self.ecs.describe_tasks(cluster=cluster, tasks=list(chunk), include=["TAGS"])
            except self.ecs.exceptions.ClusterNotFoundException:
                return [], set()  # nothing is removed on the word of a cluster ECS does not know
            found += [detail for task in page.get("tasks", []) if (detail := self._task_detail(task)) is not None]
            missing |= {
                f["arn"].rsplit("/", 1)[-1]
                for f in page.get("failures", [])
                if f.get("reason") == "MISSING" and f.get("arn")
            }
        return found, missing

    def _task_detail(self, task: Mapping[str, Any]) -> TaskDetail | None:
        """A DescribeTasks task as the event's `detail` (the same shape, without `updatedAt`); None, logged,
        for one that the event path would refuse too, so one odd task never stops the pass."""
        try:
            return TaskDetail.model_validate({"version": 0, **task, "updatedAt": OBSERVED})
        except ValidationError as invalid:
            self.telemetry.logger.warning("described task skipped", extra={
                "task": str(task.get("taskArn"))[:MAX_ARN_LENGTH], "reason": str(invalid)[:500]})
            return None


def running_tasks(ecs: Any, cluster: str, telemetry: Telemetry) -> list[str]:
    """The ARNs of the cluster's RUNNING tasks (ListTasks, which ECS does not bill); none for a cluster ECS
    does not know, which is logged."""
    arns: list[str] = []
    try:
        for page in ecs.get_paginator("list_tasks").paginate(cluster=cluster, desiredStatus="RUNNING"):
            arns += page.get("taskArns", [])
    except ecs.exceptions.ClusterNotFoundException:
        telemetry.logger.warning("ECS cluster does not exist: its endpoints are left as they are",
                                 extra={"cluster": cluster})
    return arns


def _cluster_of(endpoint: Endpoint | None) -> str | None:
    return endpoint.attributes.get(CLUSTER_ATTRIBUTE) if endpoint is not None else None


def _same_cluster(name: str | None, cluster: str) -> bool:
    return name is not None and name == cluster.rsplit("/", 1)[-1]


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    return (items[i : i + size] for i in range(0, len(items), size))
