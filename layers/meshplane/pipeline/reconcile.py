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
  last ECS walk saw; a different set, or a changed node, walks the ECS endpoints again.
The windows overlap by `MARGIN_SECONDS`, for clock skew between writers and the eventual
consistency of the reads.  A pass that names more Cloud Map nodes than one chunk of a walk
(`PASS_REFRESH_LIMIT`, after a large import, say) starts a sweep instead, which re-reads them all.

The sweep (every `reconcile_sweep_seconds`, and on the first pass) does everything: every
Cloud Map service discovered and every node's ECS endpoints read (`SWEEP_THREADS` at once),
the ECS pass, and every proxy of every mesh rebuilt and compared with its pointer.  It
repairs what no marker shows: health changes whose CloudTrail event was lost, stream
batches that failed for good (RecomputeDeadLetterQueue), hot-change shards that gave up,
certificates ACM renewed, and the rare interleavings `pipeline.recompute` leaves to it.
Those wait at most one sweep interval, plus the invocations a large mesh's sweep spans:
sweeps and ECS walks go a chunk at a time while the invocation has time left
(`reconcile_walk`), and the next pass goes on where this one stopped.  The first sweep
after an upgrade also writes the Cloud Map lookup of meshes stored before it
(`store.cloudmap_lookup`), from the nodes it reads.

Its marks are one item in the state table (`reconcile_marks`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from meshplane.pipeline.cloudmap_operations import changed_services
from meshplane.pipeline.directory import NodeInfo
from meshplane.pipeline.ecs_reconcile import EcsReconcile, TaskListings
from meshplane.pipeline.node_directory import NodeReader, Nodes
from meshplane.pipeline.reconcile_marks import Marks, MarkStore, Walk, WalkKind, task_digest
from meshplane.pipeline.reconcile_walk import CHUNK, WalkSteps
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

MARGIN_SECONDS = 60
# Cloud Map services re-read at once (and ECS endpoint partitions, `ecs_reconcile`), each thread with a connection
# of its own: a sweep's reads are independent, so its duration is the calls' latency over the threads, not the sum
SWEEP_THREADS = MAX_POOL_CONNECTIONS
PASS_REFRESH_LIMIT = CHUNK
NEVER = 0.0  # `swept_at` before the first sweep has finished


def _no_deadline() -> float:
    return float("inf")


class _Invocation:
    """What one invocation reads at most once (the nodes, each cluster's running tasks) and what it found."""

    def __init__(self, meshes: list[str], read_nodes: Callable[[list[str]], Nodes],
                 ecs_pass: Callable[[Directory, TaskListings], EcsReconcile], listings: TaskListings) -> None:
        self.meshes = meshes
        self.listings = listings
        self.refreshed: list[str] = []
        self.results: dict[str, list[str]] = {"published": [], "rejected": [], "failed": []}
        self._read_nodes = read_nodes
        self._ecs_pass = ecs_pass
        self._nodes: Nodes | None = None
        self._ecs: EcsReconcile | None = None

    def nodes(self) -> Nodes:
        if self._nodes is None:
            self._nodes = self._read_nodes(self.meshes)
        return self._nodes

    def ecs(self) -> EcsReconcile:
        if self._ecs is None:
            self._ecs = self._ecs_pass(self.nodes().directory, self.listings)
        return self._ecs

    def ecs_summary(self) -> dict[str, list[str]]:
        return self._ecs.summary if self._ecs is not None else {"upserted": [], "tombstoned": []}

    def add(self, results: Mapping[str, list[str]]) -> None:
        for kind, paths in results.items():
            self.results[kind] += paths


@dataclass
class Reconciler:
    """One scheduled pass (`run`); its parts are the pipeline's.  `seconds_left` is the invocation's time left
    (the Lambda context's)."""

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
    seconds_left: Callable[[], float] = _no_deadline

    def run(self) -> dict[str, Any]:
        started = self.clock()
        marks_store = MarkStore(self.clients.dynamodb, self.table)
        stored = marks_store.get()
        marks = stored or Marks(started, NEVER)
        now = _Invocation(self.list_meshes(), lambda meshes: self._reader().read(meshes), self._ecs_pass,
                          TaskListings(self.clients.ecs, self.telemetry))
        walk = marks.walk
        if stored is None or (
                (walk is None or walk.kind is WalkKind.ECS) and started - marks.swept_at >= self.sweep_seconds):
            walk = Walk.begin(WalkKind.SWEEP, started)
        else:
            walk = self._pass(now, marks, walk, started)
        sweeping = walk is not None and walk.kind is WalkKind.SWEEP
        if sweeping and walk is not None and walk.at_start:
            self._backfill_lookup(now.nodes())
        steps = WalkSteps(now.nodes, now.meshes, now.ecs, self._refresh,
                          lambda mesh: now.add(self._recompute({mesh: None})), marks.ecs_clusters)
        left: Walk | None = None
        finished: Walk | None = None
        if walk is not None:
            with self.telemetry.traced(f"reconcile.{walk.kind.value}"):
                left, finished = steps.run(walk, self.seconds_left)
        ecs_summary = now.ecs_summary()
        refreshed = [*now.refreshed, *steps.refreshed]
        touched: dict[str, set[str] | None] = {}
        for path in [*refreshed, *ecs_summary["upserted"], *ecs_summary["tombstoned"]]:
            mesh, node = path.split("/")[:2]
            if mesh not in steps.recomputed:
                touched.setdefault(mesh, set()).add(node)  # type: ignore[union-attr]
        now.add(self._recompute(touched))
        marks_store.put(_marked(marks, started, finished, left))
        summary: dict[str, Any] = {
            "refreshed": refreshed, "ecs": ecs_summary, **now.results, "sweep": sweeping,
            "walk": None if left is None else {"kind": left.kind.value, "stage": left.stage.value},
            "seconds": round(self.clock() - started, 3)}
        self.telemetry.count("DriftRepaired", len(summary["published"]))
        self.telemetry.logger.info("reconcile done", extra=summary)
        return summary

    def _reader(self) -> NodeReader:
        return NodeReader(self.clients.dynamodb, self.table, consistent=False)

    def _ecs_pass(self, directory: Directory, listings: TaskListings) -> EcsReconcile:
        return EcsReconcile(directory, self.mapper(directory), self.endpoints, self.clients.ecs, self.telemetry,
                            listings, tuple(self.ecs_clusters))

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
    def _pass(self, now: _Invocation, marks: Marks, walk: Walk | None, started: float) -> Walk | None:
        """The markers first (stamps, Cloud Map operations, ECS tasks); the nodes themselves only if one moved.
        Returns the walk to go on with: the one under way, or one the markers call for."""
        since = marks.passed_at - MARGIN_SECONDS
        stamped = self._reader().stamps(now.meshes).changed_since(since)
        services = changed_services(self.clients.servicediscovery, since, started)
        digest = task_digest(now.listings.running_in(self.ecs_clusters or marks.ecs_clusters))
        if not stamped and not services and digest == marks.ecs_digest:
            return walk
        nodes = now.nodes()
        changed = nodes.changed_since(since)
        candidates = {info.ref: info for info in changed if info.cloud_map is not None}
        if services:
            mapper = self.mapper(nodes.directory)
            for service_id in sorted(services):
                named = mapper.cloud_map_service(service_id)
                candidates.update((i.ref, i) for i in (nodes.directory.by_cloud_map(*named) if named else ()))
        if len(candidates) > PASS_REFRESH_LIMIT:
            self.telemetry.logger.info("more Cloud Map nodes to refresh than a pass takes: a sweep begins",
                                       extra={"nodes": len(candidates)})
            return Walk.begin(WalkKind.SWEEP, started)
        now.refreshed += self._refresh(candidates.values())
        if not changed and digest == marks.ecs_digest:
            return walk
        if walk is None:
            return Walk.begin(WalkKind.ECS, started)
        if walk.ecs_begun and (changed or digest != walk.ecs_digest):
            return dataclasses.replace(walk, ecs_digest="")  # what it saw is stale: the next pass walks ECS again
        return walk

    # ---- shared ---------------------------------------------------------------------
    def _refresh(self, nodes: Iterable[NodeInfo]) -> list[str]:
        """Each node's Cloud Map endpoints re-read, `SWEEP_THREADS` at once; the nodes whose endpoints changed."""
        listed = list(nodes)
        if not listed:
            return []
        with self.telemetry.traced("cloudmap.refresh"), ThreadPoolExecutor(min(SWEEP_THREADS, len(listed))) as pool:
            changed = list(pool.map(self.discovery.refresh, listed))
        return [f"{node.ref.mesh}/{node.ref.node}" for node, moved in zip(listed, changed, strict=True) if moved]

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


def _marked(marks: Marks, started: float, finished: Walk | None, left: Walk | None) -> Marks:
    """The marks this pass leaves: a finished walk's ECS digest (and, for a sweep, its start) recorded."""
    if finished is None:
        return dataclasses.replace(marks, passed_at=started, walk=left)
    swept_at = finished.started_at if finished.kind is WalkKind.SWEEP else marks.swept_at
    return Marks(started, swept_at, finished.ecs_digest, finished.ecs_clusters, left)
