"""The scheduled reconcile: a pass that costs next to nothing when nothing changed, and a periodic sweep.

Events are best-effort (CloudTrail may be off, EventBridge and SQS deliver at least once but
not always in time, a stream batch can fail five times), so the reconcile repairs what they
missed.  Re-reading everything every minute made it the largest line of an idle mesh's bill
(a billed Cloud Map call and several DynamoDB reads per node per pass), so each pass looks
at cheap change markers first and repairs only what they name:
- Cloud Map: one `ListOperations` since the last pass (`cloudmap_operations`, not billed)
  names the services whose instances were registered or deregistered; they are discovered
  again;
- virtual nodes and meshes: their items' `lastUpdatedAt`, read alone (`NodeReader.stamps`,
  eventually consistent), names a node that is new or changed (a new node of a Cloud Map
  service registered before it existed is discovered this way); the nodes' specs are read
  only when a marker moved;
- ECS: `ListTasks` of the clusters (not billed) against a digest of the running tasks the
  last ECS pass saw; a different set, or a changed node, runs the ECS pass
  (`ecs_reconcile`).
The windows overlap by `MARGIN_SECONDS`, for clock skew between writers and the eventual
consistency of the reads.

The sweep (every `reconcile_sweep_seconds`, and on the first pass) does everything: every
Cloud Map service discovered and every node's ECS endpoints read (`SWEEP_THREADS` at once),
the ECS pass, and every proxy of every mesh rebuilt and compared with its pointer.  It
repairs what no marker shows: health changes whose CloudTrail event was lost, stream
batches that failed for good (RecomputeDeadLetterQueue), hot-change shards that gave up,
certificates ACM renewed, and the rare interleavings `pipeline.recompute` leaves to it.
Those wait at most one sweep interval.  The first sweep after an upgrade also writes the
Cloud Map lookup of meshes stored before it (`store.cloudmap_lookup`), from the nodes it reads.

Where the reconcile keeps its marks: one item, `pk = RECONCILE`, `sk = STATE`, outside the
partitions the recompute's stream filter passes.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from meshplane.pipeline.cloudmap_operations import changed_services
from meshplane.pipeline.directory import NodeInfo
from meshplane.pipeline.ecs_reconcile import EcsReconcile, running_tasks
from meshplane.pipeline.node_directory import NodeReader, Nodes
from meshplane.pipeline.wiring import MAX_POOL_CONNECTIONS
from meshplane.store.cloudmap_lookup import CloudMapLookup

if TYPE_CHECKING:
    from meshplane.pipeline.cloudmap import CloudMapDiscovery
    from meshplane.pipeline.directory import Directory
    from meshplane.pipeline.ecs_mapping import TaskMapper
    from meshplane.pipeline.recompute import Recomputer
    from meshplane.pipeline.telemetry import Telemetry
    from meshplane.pipeline.wiring import AwsClients
    from meshplane.store.endpoints import EndpointStore

STATE_PK = "RECONCILE"
STATE_SK = "STATE"
MARGIN_SECONDS = 60
# Cloud Map services re-read at once (and ECS endpoint partitions, `ecs_reconcile`), each thread with a connection
# of its own: a sweep's reads are independent, so its duration is the calls' latency over the threads, not the sum
SWEEP_THREADS = MAX_POOL_CONNECTIONS


@dataclass(frozen=True)
class Marks:
    """What the last successful pass saw: when it started, when the last sweep started, the ECS tasks."""

    passed_at: float
    swept_at: float
    ecs_digest: str = ""
    ecs_clusters: tuple[str, ...] = ()


class MarkStore:
    """The reconcile's one item in the state table."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self._dynamodb = dynamodb
        self._table = table

    def get(self) -> Marks | None:
        item = self._dynamodb.get_item(TableName=self._table, Key=_key(), ConsistentRead=True).get("Item")
        if not item:
            return None
        return Marks(float(item["passedAt"]["N"]), float(item["sweptAt"]["N"]), item["ecsDigest"]["S"],
                     tuple(v["S"] for v in item["ecsClusters"]["L"]))

    def put(self, marks: Marks) -> None:
        self._dynamodb.put_item(TableName=self._table, Item={
            **_key(), "passedAt": {"N": repr(marks.passed_at)}, "sweptAt": {"N": repr(marks.swept_at)},
            "ecsDigest": {"S": marks.ecs_digest}, "ecsClusters": {"L": [{"S": c} for c in marks.ecs_clusters]}})


def _key() -> dict[str, Any]:
    return {"pk": {"S": STATE_PK}, "sk": {"S": STATE_SK}}


def task_digest(running: Mapping[str, Iterable[str]]) -> str:
    """One string that changes whenever a cluster's set of running tasks does."""
    text = "\n".join(f"{cluster} {' '.join(sorted(arns))}" for cluster, arns in sorted(running.items()))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Reconciler:
    """One scheduled pass (`run`); its parts are the pipeline's."""

    clients: AwsClients
    table: str
    list_meshes: Callable[[], list[str]]
    discovery: CloudMapDiscovery
    endpoints: EndpointStore
    recomputer: Recomputer
    mapper: Callable[[Directory], TaskMapper]
    telemetry: Telemetry
    sweep_seconds: float
    ecs_clusters: tuple[str, ...] = ()
    clock: Callable[[], float] = time.time

    def run(self) -> dict[str, Any]:
        started = self.clock()
        marks_store = MarkStore(self.clients.dynamodb, self.table)
        marks = marks_store.get()
        meshes = self.list_meshes()
        sweep = marks is None or started - marks.swept_at >= self.sweep_seconds
        if marks is None or sweep:
            summary, ecs = self._sweep(self._reader().read(meshes), meshes)
            swept_at = started
        else:
            summary, found = self._pass(meshes, marks, started)
            ecs, swept_at = found or (marks.ecs_digest, marks.ecs_clusters), marks.swept_at
        marks_store.put(Marks(started, swept_at, *ecs))
        summary["sweep"] = sweep
        summary["seconds"] = round(self.clock() - started, 3)
        self.telemetry.count("DriftRepaired", len(summary["published"]))
        self.telemetry.logger.info("reconcile done", extra=summary)
        return summary

    def _reader(self) -> NodeReader:
        return NodeReader(self.clients.dynamodb, self.table, consistent=False)

    # ---- the sweep ------------------------------------------------------------------
    def _sweep(self, nodes: Nodes, meshes: list[str]) -> tuple[dict[str, Any], tuple[str, tuple[str, ...]]]:
        self._backfill_lookup(nodes)
        refreshed = self._refresh(nodes.directory.cloud_map_nodes())
        ecs_pass = self._ecs(nodes.directory)
        summary = {"refreshed": refreshed, "ecs": ecs_pass.summary, **self._recompute(
            {mesh: None for mesh in meshes})}
        return summary, (task_digest(ecs_pass.running), tuple(sorted(ecs_pass.running)))

    def _backfill_lookup(self, nodes: Nodes) -> None:
        """Give a mesh stored before the Cloud Map lookup (`store.cloudmap_lookup`) its nodes' items, from the
        nodes the sweep has read anyway; once, since the resource store keeps them from then on."""
        lookup = CloudMapLookup(self.clients.dynamodb, self.table, consistent=False)
        for mesh in lookup.meshes():
            if not mesh.has_lookup:
                written = lookup.backfill(mesh.name, [(node.ref.node, node.info().spec) for node in nodes.stored
                                                      if node.ref.mesh == mesh.name])
                self.telemetry.logger.info("Cloud Map lookup written", extra={"mesh": mesh.name, "items": written})

    # ---- a pass between sweeps ------------------------------------------------------
    def _pass(self, meshes: list[str], marks: Marks, started: float
              ) -> tuple[dict[str, Any], tuple[str, tuple[str, ...]] | None]:
        """The markers first (stamps, Cloud Map operations, ECS tasks); the nodes themselves only if one moved."""
        since = marks.passed_at - MARGIN_SECONDS
        stamped = self._reader().stamps(meshes).changed_since(since)
        services = changed_services(self.clients.servicediscovery, since, started)
        clusters = self.ecs_clusters or marks.ecs_clusters
        running = {cluster: running_tasks(self.clients.ecs, cluster, self.telemetry) for cluster in clusters}
        if not stamped and not services and task_digest(running) == marks.ecs_digest:
            return {"refreshed": [], "ecs": {"upserted": [], "tombstoned": []}, **self._recompute({})}, None
        nodes = self._reader().read(meshes)
        changed = nodes.changed_since(since)
        candidates = {info.ref: info for info in changed if info.cloud_map is not None}
        if services:
            mapper = self.mapper(nodes.directory)
            for service_id in sorted(services):
                named = mapper.cloud_map_service(service_id)
                candidates.update((i.ref, i) for i in (nodes.directory.by_cloud_map(*named) if named else ()))
        refreshed = self._refresh(candidates.values())
        ecs_summary: dict[str, list[str]] = {"upserted": [], "tombstoned": []}
        ecs: tuple[str, tuple[str, ...]] | None = None
        if changed or task_digest(running) != marks.ecs_digest:
            ecs_pass = self._ecs(nodes.directory)
            ecs_summary = ecs_pass.summary
            ecs = (task_digest(ecs_pass.running), tuple(sorted(ecs_pass.running)))
        touched: dict[str, set[str] | None] = {}
        for path in [*refreshed, *ecs_summary["upserted"], *ecs_summary["tombstoned"]]:
            mesh, node = path.split("/")[:2]
            touched.setdefault(mesh, set()).add(node)  # type: ignore[union-attr]
        return {"refreshed": refreshed, "ecs": ecs_summary, **self._recompute(touched)}, ecs

    # ---- shared ---------------------------------------------------------------------
    def _refresh(self, nodes: Iterable[NodeInfo]) -> list[str]:
        """Each node's Cloud Map endpoints re-read, `SWEEP_THREADS` at once; the nodes whose endpoints changed."""
        listed = list(nodes)
        if not listed:
            return []
        with self.telemetry.traced("cloudmap.refresh"), ThreadPoolExecutor(min(SWEEP_THREADS, len(listed))) as pool:
            changed = list(pool.map(self.discovery.refresh, listed))
        return [f"{node.ref.mesh}/{node.ref.node}" for node, moved in zip(listed, changed, strict=True) if moved]

    def _ecs(self, directory: Directory) -> EcsReconcile:
        with self.telemetry.traced("ecs.reconcile"):
            ecs_pass = EcsReconcile(directory, self.mapper(directory), self.endpoints, self.clients.ecs,
                                    self.telemetry)
            ecs_pass.run(self.ecs_clusters)
        return ecs_pass

    def _recompute(self, meshes: Mapping[str, set[str] | None]) -> dict[str, list[str]]:
        """Each mesh in full (None) or for the endpoints of the nodes named; what was published, rejected, failed."""
        published: list[str] = []
        rejected: list[str] = []
        failed: list[str] = []
        for mesh, endpoint_nodes in sorted(meshes.items()):
            try:
                outcome = self.recomputer.recompute(mesh, endpoint_nodes=sorted(endpoint_nodes or ()),
                                                    full=endpoint_nodes is None)
            except Exception as exc:
                failed.append(mesh)
                self.telemetry.logger.exception("reconcile of a mesh failed", extra={"mesh": mesh, "reason": str(exc)})
                continue
            published += [r.proxy.path for r in outcome.published]
            rejected += [r.proxy.path for r in outcome.rejected]
        return {"published": published, "rejected": rejected, "failed": failed}
