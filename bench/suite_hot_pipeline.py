"""The pipeline side of the hot-change suite, as its own process: `python bench/suite_hot_pipeline.py NODES DIR
FIFO WORKERS SHARD_SIZE`.

It runs the pipeline's own code (`Recomputer.recompute` with its `QueueFanout`, `ShardWorker.run`,
the real `Publisher` and translator) over stores kept in this machine: the snapshot
bucket is the directory DIR (files, so the ADS server process reads what is written),
the table's pointers and index are in memory, and every ConfigPublished goes to FIFO as
a node id per line (the ADS server refreshes that node, as a ConfigPublished does).
Every store call is counted, with the bytes written, so AWS's part can be projected.

It builds a mesh of NODES nodes, every one calling `hot.local` behind one router, and
publishes every proxy once (in line, untimed, as a function's first call: its heap frozen
after).  It forks WORKERS shard processes, each made a warm container by rebuilding one
shard of the mesh as published, prints `ready <proxies>`, and on `go` applies the hot change (the route
gains a weighted target, so every caller gets one more cluster), recomputes it as the
recompute function does (planned, cut into shards of SHARD_SIZE, sent to a queue kept here)
and runs the shards on the workers; it prints one JSON line of what happened, monotonic
clock times included.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import io
import json
import multiprocessing
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

import meshgen
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics
from botocore.exceptions import ClientError
from meshplane.gc_pause import collector_paused
from meshplane.local.cores import core_for, pin
from meshplane.model import shapes
from meshplane.model.ids import Kind, ResourceKey
from meshplane.model.state import MeshState
from meshplane.pipeline.coldstart import first_call_without_gc
from meshplane.pipeline.ports import ModuleGraph, ModuleTranslator, consistency_validator
from meshplane.pipeline.publish import Publisher
from meshplane.pipeline.recompute import Outcome, Recomputer
from meshplane.pipeline.shard_io import BatchedIndex, EventBatch
from meshplane.pipeline.shards import IO_THREADS, QueueFanout, ShardMessage, ShardPolicy, ShardWorker
from meshplane.pipeline.telemetry import Telemetry
from meshplane.publication.pointer import Pointer
from meshplane.store import schema
from meshplane.store.endpoints import NodeEndpoints
from meshplane.store.index import IndexEntry, entry_of_item, item_of_entry
from meshplane.store.item_cache import ParsedItems
from meshplane.store.pointers import PointerConflict
from meshplane.store.resources import ResourceStore

T = TypeVar("T")
HOT_ROUTER, HOT_SERVICE, CANARY = "hot-router", "hot.local", "hot-canary"
CALLS = Counter[str]()  # store calls by "service:Operation", in this process
POOLED = Counter[str]()  # the part of CALLS made on the shard's publishing threads, overlapping each other
WRITTEN = Counter[str]()  # bytes by "service:Operation"
PUBLISHED: list[float] = []  # monotonic times of this process's pointer writes
PART_READ: list[dict[str, Any]] = []  # the resource items this process's shard read by key or listing
LOCK = threading.Lock()


STAND_IN_CPU = [0.0]  # CPU seconds this process's stand-in stores spent (files, the FIFO, the dicts): boto3's, in AWS
_STANDING_IN = threading.local()


def stand_in(method: Callable[..., T]) -> Callable[..., T]:
    """A store call of the stand-ins here: its thread's CPU is added to `STAND_IN_CPU` (once, however nested), so
    the AWS projection can put the client's measured CPU per call in its place."""

    @functools.wraps(method)
    def timed(*args: Any, **kwargs: Any) -> T:
        if getattr(_STANDING_IN, "active", False):
            return method(*args, **kwargs)
        _STANDING_IN.active = True
        started = time.thread_time()
        try:
            return method(*args, **kwargs)
        finally:
            spent = time.thread_time() - started
            _STANDING_IN.active = False
            with LOCK:
                STAND_IN_CPU[0] += spent

    return timed


def count(call: str, size: int = 0) -> None:
    with LOCK:
        CALLS[call] += 1
        WRITTEN[call] += size
        if threading.current_thread() is not threading.main_thread():
            POOLED[call] += 1


# ---- the mesh ---------------------------------------------------------------------------------------------------
def _route(targets: list[tuple[str, int]]) -> shapes.RouteData:
    action = shapes.HttpRouteAction(weighted_targets=[shapes.WeightedTarget(virtual_node=n, weight=w)
                                                      for n, w in targets])
    spec = shapes.RouteSpec(http_route=shapes.HttpRoute(match=shapes.HttpRouteMatch(prefix="/"), action=action))
    return shapes.RouteData(mesh_name="bench", virtual_router_name=HOT_ROUTER, route_name="hot",
                            metadata=meshgen._metadata(ResourceKey(Kind.ROUTE, "bench", "hot", HOT_ROUTER)),
                            spec=spec, status=shapes.RouteStatus(status="ACTIVE"))


def hot_states(nodes: int) -> tuple[MeshState, MeshState]:
    """Before and after the hot change: every node calls `hot.local`; the change adds a canary to its route."""
    base = meshgen.build_mesh(meshgen.MeshShape(nodes, backends=4))
    provider = shapes.VirtualServiceProvider(
        virtual_router=shapes.VirtualRouterServiceProvider(virtual_router_name=HOT_ROUTER))
    services = {**base.virtual_services, HOT_SERVICE: meshgen._service("bench", HOT_SERVICE, provider)}
    routers = {**base.virtual_routers, HOT_ROUTER: meshgen._router("bench", HOT_ROUTER)}
    callers = {name: meshgen.virtual_node("bench", name, [HOT_SERVICE, *(
        b.virtual_service.virtual_service_name for b in node.spec.backends or [])]) for name, node in
        base.virtual_nodes.items()}
    callers[CANARY] = meshgen.virtual_node("bench", CANARY, [])
    endpoints = {**base.endpoints, CANARY: meshgen.endpoints_for(nodes + 1, 3)}
    primary = meshgen.node_name(0)
    before = dataclasses.replace(base, virtual_nodes=callers, virtual_services=services, virtual_routers=routers,
                                 routes={**base.routes, (HOT_ROUTER, "hot"): _route([(primary, 100)])},
                                 endpoints=endpoints)
    after = dataclasses.replace(before, routes={**before.routes,
                                                (HOT_ROUTER, "hot"): _route([(primary, 90), (CANARY, 10)])})
    return before, after


# ---- the stores ---------------------------------------------------------------------------------------------------
MB = 1024 * 1024


def stored_item(key: ResourceKey, data: Any) -> dict[str, Any]:
    """A resource as `ResourceStore` stores it and `_query_all` hands it back (plain values)."""
    meta = data.metadata
    return {**schema.item_key(key), "kind": key.kind.value, "mesh": key.mesh, "name": key.name,
            **({"parent": key.parent} if key.parent else {}), "arn": meta.arn, "uid": meta.uid,
            "version": meta.version, "createdAt": schema.epoch(meta.created_at),
            "lastUpdatedAt": schema.epoch(meta.last_updated_at), "meshOwner": meta.mesh_owner,
            "resourceOwner": meta.resource_owner, "status": "ACTIVE", "spec": schema.spec_json(data.spec)}


FIELD_KINDS = {"virtual_nodes": Kind.VIRTUAL_NODE, "virtual_services": Kind.VIRTUAL_SERVICE,
               "virtual_routers": Kind.VIRTUAL_ROUTER, "routes": Kind.ROUTE,
               "virtual_gateways": Kind.VIRTUAL_GATEWAY, "gateway_routes": Kind.GATEWAY_ROUTE}


def stored_items(state: MeshState) -> list[dict[str, Any]]:
    items = []
    for field, kind in FIELD_KINDS.items():
        for name, data in getattr(state, field).items():
            parent, name = name if isinstance(name, tuple) else (None, name)
            items.append(stored_item(ResourceKey(kind, state.name, name, parent), data))
    return items


class Loader:
    """The resource store: the mesh of the generation this process is at, without endpoints.

    Each load reads every item afresh and parses it with the store's own `ParsedItems`,
    as `ResourceStore.load_mesh_state` does: a warm process parses only the items whose
    stored fields changed (botocore's decoding of the Query pages and production's conversion of their items,
    `resources._plain`, are not reproduced: `client_cpu.py` measures both per page).
    """

    def __init__(self, states: tuple[MeshState, ...]) -> None:
        self.states, self.generation = states, 0
        self.stored = [stored_items(s) for s in states]
        self.pages = [len(json.dumps(items, default=str)) // MB + 1 for items in self.stored]
        self.parsed = ParsedItems()
        self._keyed: dict[int, dict[tuple[str, str], dict[str, Any]]] = {}

    def load_mesh_state(self, mesh: str) -> MeshState:
        for _ in range(self.pages[self.generation]):  # one Query page per MB, as DynamoDB pages it
            count("dynamodb:Query, resource page")
        found: dict[str, dict[Any, Any]] = {field: {} for field in FIELD_KINDS}
        for item in self.stored[self.generation]:
            field = STATE_FIELD[item["kind"]]
            found[field][(item["parent"], item["name"]) if "parent" in item else item["name"]] = self.parsed.data(item)
        state = self.states[self.generation]
        return MeshState(mesh=state.mesh, tags=state.tags, **found)

    def load_dependencies(self, mesh: str, paths: Any) -> MeshState:
        """`ResourceStore.load_dependencies` itself, over this generation's items (`PartStore`)."""
        return PartStore(self).load_dependencies(mesh, paths)

    def keyed(self) -> dict[tuple[str, str], dict[str, Any]]:
        """This generation's items by (pk, sk), with the mesh's item and each router's count of routes."""
        if self.generation not in self._keyed:
            state = self.states[self.generation]
            mesh = ResourceKey(Kind.MESH, state.name, state.name)
            items = [*self.stored[self.generation], stored_item(mesh, state.mesh)]
            routes = Counter(router for router, _ in state.routes)
            items += [{"pk": schema.mesh_pk(state.name), "sk": schema.counter_sk(ResourceKey(
                Kind.VIRTUAL_ROUTER, state.name, router)), "children": count} for router, count in routes.items()]
            self._keyed[self.generation] = {(item["pk"], item["sk"]): item for item in items}
        return self._keyed[self.generation]

    def list_mesh_names(self) -> list[str]:
        return ["bench"]


STATE_FIELD = {kind.value: field for field, kind in FIELD_KINDS.items()}


class PartStore(ResourceStore):
    """The resource store's own reads of a part of a mesh, over the loader's items: each BatchGetItem of up to
    100 keys and each listing counted as the calls they stand for (botocore's decoding and `resources._plain` are
    not reproduced: `client_cpu.py` measures both per call)."""

    def __init__(self, loader: Loader) -> None:
        super().__init__("bench", None)
        self._loader = loader
        self._parsed = loader.parsed

    @stand_in
    def _batch_get(self, keys: list[tuple[str, str]]) -> list[dict[str, Any]]:
        for _ in range(0, len(keys), 100):
            count("dynamodb:BatchGetItem, resources")
        items = self._loader.keyed()
        found = [items[key] for key in keys if key in items]
        PART_READ.extend(found)
        return found

    @stand_in
    def _query_all(self, pk: str, prefix: str, *, consistent: bool = True) -> list[dict[str, Any]]:
        count("dynamodb:Query")
        found = [item for (ipk, sk), item in self._loader.keyed().items() if ipk == pk and sk.startswith(prefix)]
        PART_READ.extend(found)
        return found

    def cold_parse_seconds(self, items: list[dict[str, Any]]) -> float:
        """`items` made into a state with nothing parsed before (`ParsedItems` empty): what a shard in a cold
        container pays on top of a warm one for the part it read; with the collector paused, as in a shard."""
        self._parsed = ParsedItems()
        with collector_paused():
            started = time.process_time()
            self._state_of("bench", items)
            return time.process_time() - started


class Endpoints:
    """The endpoint store: the store's own lazy mapping, one Query per node on its first lookup."""

    def __init__(self, loader: Loader) -> None:
        self.loader = loader

    def endpoints_for(self, mesh: str, nodes: Any) -> NodeEndpoints:
        state = self.loader.states[self.loader.generation]

        @stand_in
        def read(node: str) -> tuple[Any, ...]:
            count("dynamodb:Query")
            return tuple(state.endpoints.get(node, ()))

        return NodeEndpoints(frozenset(nodes), read)


class Pointers:
    """The pointer items, with `PointerStore`'s conditional advance."""

    def __init__(self) -> None:
        self.items: dict[str, Pointer] = {}

    @stand_in
    def get(self, path: str) -> Pointer | None:
        count("dynamodb:GetItem")
        return self.items.get(path)

    @stand_in
    def get_many(self, paths: list[str]) -> dict[str, Pointer | None]:
        for _ in range(0, len(paths), 100):  # BatchGetItem's 100 keys a call
            count("dynamodb:BatchGetItem")
        return {path: self.items.get(path) for path in paths}

    @stand_in
    def advance(self, previous: Pointer | None, path: str, pointer: Pointer) -> Pointer:
        count("dynamodb:PutItem", len(json.dumps(dict(pointer.versions))) + len(pointer.key) + 100)
        current = self.items.get(path)
        if (current.seq if current else 0) != (previous.seq if previous else 0):
            raise PointerConflict(path)
        stored = dataclasses.replace(pointer, seq=(previous.seq if previous else 0) + 1)
        self.items[path] = stored
        with LOCK:
            PUBLISHED.append(time.monotonic())
        return stored


class Index:
    """The dependency index's items: entries stored as entries (the in-line recompute's `put`s) or as the items
    the shards' BatchWriteItem sent (kept as sent, as DynamoDB keeps them), with each item's size in bytes."""

    def __init__(self) -> None:
        self.entries_kept: dict[str, IndexEntry] = {}
        self.items_kept: dict[str, dict[str, Any]] = {}
        self.sizes: dict[str, int] = {}

    def store(self, mesh: str, entry: IndexEntry) -> None:
        self.items_kept.pop(entry.node_path, None)
        self.entries_kept[entry.node_path] = entry
        self.sizes[entry.node_path] = len(json.dumps(item_of_entry(mesh, entry), default=_base64))

    def store_item(self, path: str, item: dict[str, Any], size: int) -> None:
        self.entries_kept.pop(path, None)
        self.items_kept[path] = item
        self.sizes[path] = size

    def item(self, mesh: str, path: str) -> dict[str, Any] | None:
        """The item stored for `path`, as BatchGetItem returns it."""
        if path in self.items_kept:
            return self.items_kept[path]
        entry = self.entries_kept.get(path)
        return None if entry is None else item_of_entry(mesh, entry)

    @stand_in
    def entries(self, mesh: str) -> dict[str, IndexEntry]:
        """Every entry, counted as the 1 MB pages of a Query of their items."""
        for _ in range(sum(self.sizes.values()) // MB + 1):
            count("dynamodb:Query, index page")
        return {**self.entries_kept, **{path: entry_of_item(item) for path, item in self.items_kept.items()}}

    @stand_in
    def put(self, mesh: str, path: str, deps: Any, endpoint_deps: Any) -> None:
        count("dynamodb:PutItem")
        self.store(mesh, IndexEntry(path, frozenset(deps), frozenset(endpoint_deps)))

    @stand_in
    def put_many(self, mesh: str, entries: Any) -> None:
        for _ in range(0, len(entries), 25):
            count("dynamodb:BatchWriteItem")
        for entry in entries:
            self.store(mesh, entry)

    @stand_in
    def delete(self, mesh: str, path: str) -> None:
        count("dynamodb:DeleteItem")
        for kept in (self.entries_kept, self.items_kept, self.sizes):
            kept.pop(path, None)


def _base64(value: bytes) -> str:
    """A binary attribute value as botocore sends it in the JSON body."""
    return base64.b64encode(value).decode()


class IndexClient:
    """The BatchWriteItem the shards' `BatchedIndex` makes, into the same index items."""

    def __init__(self, index: Index) -> None:
        self.index = index

    @stand_in
    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        for requests in RequestItems.values():
            sizes = [len(json.dumps(request, default=_base64)) for request in requests]  # binary as sent
            count("dynamodb:BatchWriteItem", sum(sizes))
            for request, size in zip(requests, sizes, strict=True):
                item = request["PutRequest"]["Item"]
                self.index.store_item(item["sk"]["S"], item, size)
        return {"UnprocessedItems": {}}

    @stand_in
    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        """The shard's reads of its proxies' entries (`DependencyIndex.entries_of`)."""
        count("dynamodb:BatchGetItem")
        found = {table: [item for key in request["Keys"]
                         if (item := self.index.item(key["pk"]["S"].removeprefix("IDX#"), key["sk"]["S"]))]
                 for table, request in RequestItems.items()}
        return {"Responses": found, "UnprocessedKeys": {}}


class DirBucket:
    """The boto3 S3 calls `S3Objects` makes, on files under a directory (written whole, then renamed), with plain
    `os` calls and each directory made once: the stand-in's own CPU is not the pipeline's."""

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self._made: set[str] = set()

    @stand_in
    def put_object(self, Bucket: str, Key: str, Body: bytes, ContentType: str) -> None:
        count("s3:PutObject", len(Body))
        path = os.path.join(self.root, Key)
        folder = os.path.dirname(path)
        if folder not in self._made:
            os.makedirs(folder, exist_ok=True)
            self._made.add(folder)
        tmp = f"{folder}/.{os.path.basename(path)}.{os.getpid()}.{threading.get_ident()}"
        with open(tmp, "wb") as out:
            out.write(Body)
        os.replace(tmp, path)

    @stand_in
    def get_object(self, Bucket: str, Key: str, **_: Any) -> dict[str, Any]:
        count("s3:GetObject")
        try:
            with open(os.path.join(self.root, Key), "rb") as stored:
                return {"Body": io.BytesIO(stored.read()), "ETag": ""}
        except FileNotFoundError:
            raise ClientError({"Error": {"Code": "NoSuchKey", "Message": Key}}, "GetObject") from None


class Bus:
    """EventBridge: each ConfigPublished's node id, one line on the FIFO the ADS server reads."""

    def __init__(self, fifo: str) -> None:
        self.fifo = fifo
        self._fd: int | None = None

    @stand_in
    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        count("events:PutEvents", sum(len(e["Detail"]) for e in Entries))
        if self._fd is None:
            self._fd = os.open(self.fifo, os.O_WRONLY)
        lines = "".join(json.loads(e["Detail"])["nodeId"] + "\n" for e in Entries)
        os.write(self._fd, lines.encode())
        return {"FailedEntryCount": 0, "Entries": [{"EventId": "x"} for _ in Entries]}


# ---- the pipeline over them ---------------------------------------------------------------------------------------
class Queue:
    """The shard queue: each SendMessageBatch counted with its bytes, its messages kept for the workers."""

    def __init__(self) -> None:
        self.bodies: list[str] = []
        self._lock = threading.Lock()

    @stand_in
    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        count("sqs:SendMessageBatch", sum(len(e["MessageBody"]) for e in Entries))
        with self._lock:
            self.bodies.extend(e["MessageBody"] for e in Entries)
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}


@dataclasses.dataclass
class World:
    loader: Loader
    recomputer: Recomputer  # the in-line recompute: the first publish of every proxy
    dispatcher: Recomputer  # the recompute function with its shard queue: plans a change and sends its shards
    queue: Queue
    worker: ShardWorker


WORLD: World | None = None


def world(states: tuple[MeshState, ...], root: Path, fifo: str, shard_size: int) -> World:
    sink = io.StringIO()
    telemetry = Telemetry(Logger(service="bench-hot", stream=sink, level="WARNING"), Tracer(disabled=True),
                          EphemeralMetrics(namespace="Bench"))
    loader, pointers, index, bus, bucket = Loader(states), Pointers(), Index(), Bus(fifo), DirBucket(root)
    graph, endpoints, translator = ModuleGraph(), Endpoints(loader), ModuleTranslator()

    def recomputer(events: Any, index: Any, fanout: QueueFanout | None = None) -> Recomputer:
        publisher = Publisher(bucket="bench", bus="bench", s3=bucket, events=events, pointers=pointers, index=index,
                              validators=[consistency_validator], telemetry=telemetry)
        return Recomputer(loader=loader, endpoints=endpoints, graph=graph, translator=translator,  # type: ignore[arg-type]
                          pointers=pointers, index=index, publisher=publisher, telemetry=telemetry,  # type: ignore[arg-type]
                          fanout=fanout)

    # the shard function's wiring (`Pipeline.shard_worker`): events and index entries in batches
    shard_events, shard_index = EventBatch(bus, telemetry), BatchedIndex("bench", IndexClient(index))
    worker = ShardWorker(recomputer=recomputer(shard_events, shard_index), loader=loader,
                         pointers=pointers, telemetry=telemetry, batches=(shard_index, shard_events),  # type: ignore[arg-type]
                         threads=IO_THREADS)
    queue = Queue()
    fanout = QueueFanout(queue, "bench", ShardPolicy(threshold=1, size=shard_size), telemetry)
    return World(loader, recomputer(bus, index), recomputer(bus, index, fanout), queue, worker)


WARMED: list[Any] = []  # the barrier every worker and the orchestrator meet at once the workers are warm


def warm_up(body: str, started: Any, workers: int) -> None:
    """In each worker as it starts: on its own core, as the local runtime runs the shard function's workers
    (`local.cores`), one shard of the mesh as published rebuilt (nothing changes, nothing is published), since a
    warm container has served an invocation before; a forked worker's first touches of the pages it shares with
    this process (copied on write, as in no Lambda container) are then behind it too."""
    assert WORLD is not None
    with started.get_lock():
        index, started.value = started.value, started.value + 1
    pin(core_for(index, workers))
    WORLD.loader.generation = 0
    WORLD.worker.run(ShardMessage.model_validate_json(body))
    WARMED[0].wait()


def run_shard(body: str) -> dict[str, Any]:
    """In a worker process: one shard of the change, as the shard function runs it."""
    assert WORLD is not None
    WORLD.loader.generation = 1
    CALLS.clear()
    POOLED.clear()
    WRITTEN.clear()
    PUBLISHED.clear()
    STAND_IN_CPU[0] = 0.0
    PART_READ.clear()
    started, cpu = time.monotonic(), time.process_time()
    results = WORLD.worker.run(ShardMessage.model_validate_json(body))
    finished, cpu = time.monotonic(), time.process_time() - cpu
    return {"pid": os.getpid(), "started": started, "finished": finished, "cpu": cpu, "stand_in_cpu": STAND_IN_CPU[0],
            "part_read": [(item["pk"], item["sk"]) for item in PART_READ],
            "proxies": len(results), "published": list(PUBLISHED), "calls": dict(CALLS), "pooled": dict(POOLED),
            "bytes": dict(WRITTEN), "statuses": dict(Counter(r.status.value for r in results))}


def plan_change(w: World, generation: int = 1) -> tuple[list[str], dict[str, Any]]:
    """The recompute function's handling of the change at `generation` (`Recomputer.recompute` with its
    `QueueFanout`): planned from the index, cut into shards and sent; the shards' message bodies,
    and the CPU and the calls it took (`pooled`: those made on other threads than the recompute's own)."""
    CALLS.clear()
    POOLED.clear()
    STAND_IN_CPU[0] = 0.0
    w.queue.bodies.clear()
    cpu = time.process_time()
    w.loader.generation = generation
    outcome = w.dispatcher.recompute("bench", [ResourceKey(Kind.ROUTE, "bench", "hot", HOT_ROUTER)])
    cpu = time.process_time() - cpu
    if outcome.results or outcome.shards != len(w.queue.bodies):
        raise RuntimeError(f"the change was not sent as shards: {len(outcome.results)} published in line, "
                           f"{outcome.shards} shards for {len(w.queue.bodies)} messages")
    return list(w.queue.bodies), {"cpu": cpu, "stand_in_cpu": STAND_IN_CPU[0], "calls": dict(CALLS),
                                  "pooled": dict(POOLED)}


def protocol_out() -> Any:
    """The orchestrator's lines on a copy of stdout; everything else written to fd 1 (the metrics' EMF, in the
    workers too) goes to /dev/null, so a full pipe never stalls a shard while the orchestrator is busy."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    return out


@first_call_without_gc
def _first_publish(recomputer: Recomputer, _: object) -> Outcome:
    """Every proxy published in line as a function's first call in its container runs (`coldstart`): the collector
    paused, then what it built frozen, so the workers forked from here are warm containers as Lambda keeps them, and
    the collector's full passes in them do not walk the whole mesh this process built."""
    return recomputer.recompute("bench", full=True)


def main(nodes: int, root: Path, fifo: str, workers: int, shard_size: int) -> None:
    global WORLD
    out = protocol_out()
    states = hot_states(nodes)
    WORLD = world(states, root, fifo, shard_size)
    started = time.perf_counter()
    initial = _first_publish(WORLD.recomputer, None)
    proxies = len(initial.published)
    seconds = time.perf_counter() - started
    warming, _ = plan_change(WORLD, generation=0)  # the mesh as published, cut into shards as a change would be
    context = multiprocessing.get_context("fork")
    WARMED[:] = [context.Barrier(workers + 1, timeout=600)]
    pool = context.Pool(workers, initializer=warm_up, initargs=(warming[-1], context.Value("i", 0), workers))
    WARMED[0].wait()  # every worker forked and warm before the change
    print(f"ready {proxies} {seconds:.3f}", file=out)
    if sys.stdin.readline().strip() != "go":
        return
    t0 = time.monotonic()
    shards, dispatch = plan_change(WORLD)
    dispatched = time.monotonic()
    runs = pool.map(run_shard, shards, chunksize=1)
    done = time.monotonic()
    pool.close()
    read = [run.pop("part_read") for run in runs]
    largest = max(read, key=len)  # its cold parse, after the timed part, stands for every shard's
    items = WORLD.loader.keyed()
    cold_parse_s = PartStore(WORLD.loader).cold_parse_seconds([items[key] for key in largest if key in items])
    print(json.dumps({"t0": t0, "dispatched": dispatched, "done": done, "dispatch": dispatch,
                      "targets": sum(run["proxies"] for run in runs), "shards": len(shards), "runs": runs,
                      "initial_publish_s": seconds, "proxies": proxies, "cold_parse_s": cold_parse_s,
                      "cold_parse_items": len(largest),
                      "threads": IO_THREADS}), file=out)


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
