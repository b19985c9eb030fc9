"""Hot changes in shards: how plans are cut, when they are, and that the shards publish every dependent."""

from __future__ import annotations

import dataclasses
import gc
import io
import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from meshplane.model.ids import Kind, ProxyId
from meshplane.pipeline.ports import ModuleGraph, ModuleTranslator, consistency_validator
from meshplane.pipeline.recompute import SETTLED, Plan
from meshplane.pipeline.runtime import Pipeline
from meshplane.pipeline.shards import QueueFanout, ShardMessage, ShardPolicy, messages
from meshplane.pipeline.telemetry import Telemetry
from meshplane.store.limits import Limits

from . import meshes
from .conftest import LambdaContext, World, make_world, sqs_batch

ROUTER, SERVICE = "hot-router", "hot.local"
GENERATION = re.compile(rb"/gen(\d{3})/")


def proxy(n: int) -> ProxyId:
    return ProxyId("m", Kind.VIRTUAL_NODE, f"n{n:03d}")


# ---- the cut ------------------------------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 12), full=st.sets(st.integers(0, 60)), eds=st.sets(st.integers(0, 60)))
def test_every_target_is_in_exactly_one_shard_of_at_most_size_with_its_kind_of_rebuild(
        size: int, full: set[int], eds: set[int]) -> None:
    rebuild, endpoints = {proxy(n) for n in full}, {proxy(n) for n in eds}
    shards = ShardPolicy(threshold=1, size=size).split(rebuild, endpoints)
    targets = rebuild | endpoints
    seen = [p for f, e in shards for p in f | e]
    assert sorted(seen) == sorted(targets)  # none lost, none twice
    assert all(f.isdisjoint(e) for f, e in shards)
    assert set().union(*(f for f, _ in shards)) == rebuild  # full wins where a proxy is in both
    sizes = [len(f | e) for f, e in shards]
    assert all(0 < s <= size for s in sizes)
    assert len(shards) == -(-len(targets) // size)  # the fewest shards
    assert not sizes or max(sizes) - min(sizes) <= 1  # balanced: no straggler shard
    assert [sorted(f | e) for f, e in shards] == [sorted(f | e) for f, e in
                                                  ShardPolicy(threshold=1, size=size).split(rebuild, endpoints)]


@pytest.mark.parametrize(("threshold", "targets", "hot"), [
    (3, 3, False), (3, 4, True), (0, 10_000, False), (-1, 5, False), (1, 2, True), (1, 1, False)])
def test_a_plan_is_hot_only_above_the_threshold(threshold: int, targets: int, hot: bool) -> None:
    policy = ShardPolicy(threshold=threshold, size=2)
    plan = Plan(full=frozenset(proxy(n) for n in range(targets)))
    assert policy.hot(targets) is hot
    assert bool(messages("m", plan, policy)) is hot


def test_a_shard_holds_at_least_one_proxy() -> None:
    with pytest.raises(ValueError, match="at least one proxy"):
        ShardPolicy(threshold=1, size=0)


def test_the_messages_of_a_plan_name_each_target_once_under_one_change() -> None:
    plan = Plan(full=frozenset(proxy(n) for n in range(5)), endpoints_only=frozenset(proxy(n) for n in range(5, 7)))
    sent = messages("m", plan, ShardPolicy(threshold=2, size=3), change="c1")
    assert [m.id for m in sent] == ["c1-0", "c1-1", "c1-2"]
    assert {m.count for m in sent} == {3}
    assert sorted(p for m in sent for p in m.full) == sorted(p.path for p in plan.full)
    assert sorted(p for m in sent for p in m.endpoints_only) == sorted(p.path for p in plan.endpoints_only)
    assert ShardMessage.model_validate_json(sent[0].model_dump_json()) == sent[0]


class ConcurrentQueue:
    """An SQS client whose SendMessageBatch waits until `together` calls are in flight at once (or times out)."""

    def __init__(self, together: int, refuse: int = -1) -> None:
        self.sent: list[dict[str, Any]] = []
        self._all_in = threading.Barrier(together, timeout=10)
        self._lock = threading.Lock()
        self._refuse = refuse

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self._all_in.wait()  # BrokenBarrierError unless the batches are sent at the same time
        with self._lock:
            self.sent.extend(Entries)
        failed = [{"Id": e["Id"], "Code": "InternalError", "SenderFault": False} for e in Entries
                  if e["Id"] == str(self._refuse)]
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": failed}


def fanout_of(queue: ConcurrentQueue, size: int) -> QueueFanout:
    policy = ShardPolicy(threshold=1, size=size)
    return QueueFanout(queue, "https://sqs/shards", policy, Telemetry.from_env(io.StringIO()))


def test_a_hot_change_sends_its_batches_of_shards_at_the_same_time_each_shard_once() -> None:
    plan = Plan(full=frozenset(proxy(n) for n in range(30)))
    queue = ConcurrentQueue(together=3)  # 30 shards of one: three batches of ten, all in flight together
    assert fanout_of(queue, size=1).dispatch("m", plan) == 30
    bodies = [ShardMessage.model_validate_json(e["MessageBody"]) for e in queue.sent]
    assert sorted(m.index for m in bodies) == list(range(30))
    assert sorted(p for m in bodies for p in m.full) == sorted(p.path for p in plan.full)


def test_a_shard_the_queue_refuses_fails_the_dispatch_so_the_stream_retries_the_change() -> None:
    plan = Plan(full=frozenset(proxy(n) for n in range(20)))
    with pytest.raises(RuntimeError, match="refused 1 shards"):
        fanout_of(ConcurrentQueue(together=2, refuse=13), size=1).dispatch("m", plan)


def test_a_shard_names_the_nodes_it_renders_while_few_and_renders_all_when_the_change_wrote_many() -> None:
    targets = frozenset(proxy(n) for n in range(5))
    (few,) = {m.rendered for m in messages("m", Plan(full=targets, rendered=frozenset({"b", "a"})),
                                           ShardPolicy(threshold=2, size=3))}
    assert few == ("a", "b")
    many = frozenset(f"imported-node-{n:05d}" for n in range(1000))  # a bulk import's nodes
    sent = messages("m", Plan(full=targets, rendered=many), ShardPolicy(threshold=2, size=3))
    assert {m.rendered for m in sent} == {None}
    assert max(len(m.model_dump_json()) for m in sent) < 2000
    assert {m.rendered for m in messages("m", Plan(full=targets), ShardPolicy(threshold=2, size=3))} == {None}


def test_a_full_pass_goes_out_in_shards_of_a_thousand_that_read_the_whole_mesh_and_a_hot_change_in_parts() -> None:
    plan = Plan(full=frozenset(proxy(n) for n in range(2500)))
    policy = ShardPolicy(threshold=200, size=100)
    full_pass = messages("m", plan, policy, full_pass=True)
    hot = messages("m", plan, policy)
    assert [len(m.full) for m in full_pass] == [834, 833, 833] and {m.whole_mesh for m in full_pass} == {True}
    assert len(hot) == 25 and {m.whole_mesh for m in hot} == {False}


class RecordingQueue:
    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.batches.append(Entries)
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}


def test_long_names_cut_more_shards_so_that_every_message_and_batch_stays_within_what_sqs_takes() -> None:
    """App Mesh names run to 255 characters: a thousand such paths would not fit one message."""
    mesh = "m" * 255
    plan = Plan(full=frozenset(ProxyId(mesh, Kind.VIRTUAL_NODE, f"{n:05d}{'n' * 250}") for n in range(3000)))
    queue = RecordingQueue()
    fanout = QueueFanout(queue, "https://sqs/shards", ShardPolicy(threshold=200, size=100),
                         Telemetry.from_env(io.StringIO()))

    sent = fanout.dispatch(mesh, plan, full_pass=True)

    bodies = [len(e["MessageBody"].encode()) for batch in queue.batches for e in batch]
    assert sent == len(bodies) > 3 and max(bodies) <= 256 * 1024  # more than three shards of a thousand
    assert all(sum(len(e["MessageBody"].encode()) for e in batch) <= 256 * 1024 for batch in queue.batches)
    assert sorted(p for batch in queue.batches for e in batch
                  for p in ShardMessage.model_validate_json(e["MessageBody"]).full) == sorted(p.path for p in plan.full)


# ---- through the pipeline, on moto --------------------------------------------------------------------------------
def hot_mesh(world: World, mesh: str, callers: int) -> list[ProxyId]:
    """`callers` nodes that all call `hot.local`, routed by one router; returns the callers."""
    world.put(Kind.MESH, mesh, mesh, {})
    for node in ("blue", "red"):
        world.put(Kind.VIRTUAL_NODE, mesh, node, {"listeners": [meshes.listener(8080)]})
    world.put(Kind.VIRTUAL_ROUTER, mesh, ROUTER, {"listeners": [meshes.listener(8080)]})
    route_change(world, mesh, 0)
    world.put(Kind.VIRTUAL_SERVICE, mesh, SERVICE, {"provider": {"virtualRouter": {"virtualRouterName": ROUTER}}})
    names = [f"caller-{i:02d}" for i in range(callers)]
    for name in names:
        world.put(Kind.VIRTUAL_NODE, mesh, name, {
            "listeners": [meshes.listener(9000)], "backends": [{"virtualService": {"virtualServiceName": SERVICE}}]})
    return [ProxyId(mesh, Kind.VIRTUAL_NODE, name) for name in names]


def route_change(world: World, mesh: str, generation: int) -> None:
    """Generation `generation` of the hot route: its prefix names it, so a snapshot tells which it was built from."""
    weights = (("blue", 1 + generation % 7), ("red", 1))
    world.put(Kind.ROUTE, mesh, "hot-route", meshes.http_route(*weights, prefix=f"/gen{generation:03d}/"),
              parent=ROUTER)


def generation_of(body: bytes) -> int:
    (found,) = set(GENERATION.findall(body))
    return int(found)


def published_generation(world: World, proxy_id: ProxyId) -> int | None:
    pointer = world.pipeline.pointers.get(proxy_id.path)
    if pointer is None:
        return None
    return generation_of(world.clients.s3.get_object(Bucket=world.settings.bucket, Key=pointer.key)["Body"].read())


def sharding(world: World, *, threshold: int, size: int, **parts_changed: Any) -> tuple[Pipeline, str]:
    """A pipeline container of `world` whose hot plans go to a new shard queue; returns it and the queue's URL.

    `parts_changed` replaces some of its collaborators (`loader=...`, `translator=...`)."""
    url = world.sqs.create_queue(QueueName=f"shards-{uuid.uuid4().hex}")["QueueUrl"]
    config = dataclasses.replace(world.settings, shard_queue_url=url, shard_threshold=threshold, shard_size=size)
    clients = dataclasses.replace(world.clients, sqs=world.sqs)
    parts = dataclasses.replace(world.pipeline.parts, **parts_changed)
    return Pipeline(config, clients, parts, Telemetry.from_env(world.log_stream)), url


def receive_all(world: World, url: str) -> list[dict[str, Any]]:
    """Every shard message on the queue, deleted from it."""
    bodies = []
    while messages_ := world.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages_:
            bodies.append(json.loads(message["Body"]))
            world.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


@pytest.fixture(scope="module")
def module_world() -> Iterator[World]:
    """One moto account for the module (each test has its own mesh): the account's setup is the slow part."""
    from moto import mock_aws

    mp = pytest.MonkeyPatch()
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true",
                       "POWERTOOLS_SERVICE_NAME": "meshplane-pipeline-test-shards",
                       "POWERTOOLS_METRICS_NAMESPACE": "MeshplaneTest"}.items():
        mp.setenv(key, value)
    mp.delenv("AWS_ENDPOINT_URL", raising=False)
    try:
        with mock_aws():
            # consistency only: the Envoy check of each snapshot would double the module's time, and these
            # snapshots (a router with weighted targets) are validated by Envoy in tests/pipeline/test_recompute.py
            # a mesh per test: more than App Mesh's default quota of 15 meshes an account
            yield make_world(validators=[consistency_validator], limits=Limits(meshes=100))
    finally:
        mp.undo()


@pytest.fixture
def hot(module_world: World, request: pytest.FixtureRequest) -> tuple[World, list[ProxyId], str]:
    """A mesh of its own for the test, published once; returns the world, its callers and its name."""
    world = module_world
    mesh = f"hot{abs(hash(request.node.name)) % 10**6}"
    callers = hot_mesh(world, mesh, 5)
    world.recompute()  # the first publish, in line (the world's own pipeline has no shard queue)
    world.announcements()
    assert {published_generation(world, c) for c in callers} == {0}
    return world, callers, mesh


def test_a_hot_change_is_sent_as_shards_and_each_shard_publishes_its_dependents(
        hot: tuple[World, list[ProxyId], str]) -> None:
    world, callers, mesh = hot
    pipeline, url = sharding(world, threshold=2, size=2)
    route_change(world, mesh, 1)
    assert pipeline.recompute({"Records": world.stream.drain()}, LambdaContext()) == {"batchItemFailures": []}
    bodies = receive_all(world, url)
    assert {published_generation(world, c) for c in callers} == {0}  # nothing published in line
    assert [(b["index"], b["count"]) for b in bodies] == [(0, 3), (1, 3), (2, 3)]
    assert sorted(p for b in bodies for p in b["full"]) == sorted(c.path for c in callers)
    assert pipeline.recompute_shard(sqs_batch(bodies), LambdaContext()) == {"batchItemFailures": []}
    assert {published_generation(world, c) for c in callers} == {1}
    announced = [a["nodeId"] for a in world.announcements()]
    assert sorted(announced[-len(callers):]) == sorted(c.path for c in callers)  # once each


class CollectorWatch(ModuleTranslator):
    """The real translator, noting whether the cyclic collector was enabled as each proxy's translation began."""

    def __init__(self) -> None:
        self.enabled: list[bool] = []

    def translate(self, state: Any, proxy: ProxyId, *rest: Any) -> Any:
        self.enabled.append(gc.isenabled())
        return super().translate(state, proxy, *rest)


def test_a_change_and_its_shards_pause_the_collector_over_their_whole_batch_and_enable_it_after(
        hot: tuple[World, list[ProxyId], str]) -> None:
    world, callers, mesh = hot
    watch = CollectorWatch()
    in_line, _ = sharding(world, threshold=len(callers), size=2, translator=watch)
    route_change(world, mesh, 3)
    assert in_line.recompute({"Records": world.stream.drain()}, LambdaContext()) == {"batchItemFailures": []}
    assert watch.enabled == [False] * len(callers) and gc.isenabled()
    watch.enabled.clear()
    sharded, url = sharding(world, threshold=2, size=2, translator=watch)
    route_change(world, mesh, 4)
    assert sharded.recompute({"Records": world.stream.drain()}, LambdaContext()) == {"batchItemFailures": []}
    assert sharded.recompute_shard(sqs_batch(receive_all(world, url)), LambdaContext()) == {"batchItemFailures": []}
    assert watch.enabled == [False] * len(callers) and gc.isenabled()
    assert {published_generation(world, c) for c in callers} == {4}


def test_a_change_at_or_below_the_threshold_is_published_in_line(hot: tuple[World, list[ProxyId], str]) -> None:
    world, callers, mesh = hot
    pipeline, url = sharding(world, threshold=len(callers), size=2)
    route_change(world, mesh, 2)
    assert pipeline.recompute({"Records": world.stream.drain()}, LambdaContext()) == {"batchItemFailures": []}
    assert receive_all(world, url) == []
    assert {published_generation(world, c) for c in callers} == {2}


def test_a_failing_shard_is_reported_alone_and_its_retry_publishes_once(hot: tuple[World, list[ProxyId], str]) -> None:
    world, callers, mesh = hot

    class FailsOnce:
        """The mesh's loader, failing its first read (throttled, say)."""

        def __init__(self, inner: Any) -> None:
            self.inner, self.failed = inner, False

        def load_mesh_state(self, mesh: str) -> Any:
            if not self.failed:
                self.failed = True
                raise RuntimeError("throttled")
            return self.inner.load_mesh_state(mesh)

        def list_mesh_names(self) -> list[str]:
            return list(self.inner.list_mesh_names())

    pipeline, url = sharding(world, threshold=2, size=3)
    route_change(world, mesh, 3)
    pipeline.recompute({"Records": world.stream.drain()}, LambdaContext())
    bodies = receive_all(world, url)
    world.announcements()
    worker, _ = sharding(world, threshold=2, size=3, loader=FailsOnce(world.pipeline.parts.loader))
    event = sqs_batch(bodies)
    failed = worker.recompute_shard(event, LambdaContext())["batchItemFailures"]
    assert [f["itemIdentifier"] for f in failed] == [event["Records"][0]["messageId"]]  # only the first shard
    first = set(bodies[0]["full"])
    assert {c.path for c in callers if published_generation(world, c) == 3} == {c.path for c in callers} - first
    redelivered = sqs_batch([bodies[0], bodies[1]])  # the failed one, and a duplicate delivery of a done one
    assert worker.recompute_shard(redelivered, LambdaContext()) == {"batchItemFailures": []}
    assert {published_generation(world, c) for c in callers} == {3}
    announced = sorted(a["nodeId"] for a in world.announcements())
    assert announced == sorted(c.path for c in callers)  # each proxy announced exactly once


def test_a_malformed_shard_is_a_batch_item_failure(hot: tuple[World, list[ProxyId], str]) -> None:
    world, _, mesh = hot
    pipeline, _ = sharding(world, threshold=2, size=2)
    event = sqs_batch([{"id": "x-0", "mesh": mesh, "index": 0, "count": 1, "full": ["not a node path"]}])
    assert len(pipeline.recompute_shard(event, LambdaContext())["batchItemFailures"]) == 1


def test_a_shard_reads_its_pointers_in_one_call_batches_its_events_and_rewrites_no_index_entry_as_read(
        hot: tuple[World, list[ProxyId], str]) -> None:
    """Five proxies in one shard: one BatchGetItem for the pointers (no GetItem), one for their index entries and
    one for what those name, one PutEvents of five entries, and a PutItem only for each pointer's conditional
    advance; a weight change leaves every caller's dependencies as their entries hold them, so no entry is written
    again."""
    world, callers, mesh = hot
    pipeline, url = sharding(world, threshold=2, size=len(callers))
    route_change(world, mesh, 4)
    pipeline.recompute({"Records": world.stream.drain()}, LambdaContext())
    (body,) = receive_all(world, url)
    world.announcements()
    calls: list[tuple[str, int | str]] = []

    def counted(model: Any, params: dict[str, Any], **_: Any) -> None:
        """(operation, entries) of each call on pointers, index entries and events (idempotency records aside)."""
        if model.name in ("GetItem", "PutItem") and params.get("Key", params.get("Item", {}))["sk"]["S"] != "POINTER":
            return
        if "Entries" in params:
            calls.append((model.name, len(params["Entries"])))
            return
        if model.name == "Query":  # the partition's kind: MESH (the mesh's items), EP (a node's endpoints)
            calls.append((model.name, params["ExpressionAttributeValues"][":pk"]["S"].split("#")[0]))
            return
        (requests,) = (params.get("RequestItems") or {"": []}).values()
        calls.append((model.name, len(requests["Keys"] if isinstance(requests, dict) else requests)))

    hooks = [(client, "before-parameter-build.*.*") for client in (world.clients.dynamodb, world.clients.events)]
    for client, event in hooks:
        client.meta.events.register(event, counted)
    try:
        assert pipeline.recompute_shard(sqs_batch([body]), LambdaContext()) == {"batchItemFailures": []}
    finally:
        for client, event in hooks:
            client.meta.events.unregister(event, counted)
    writes = [c for c in calls if c[0] in ("GetItem", "PutItem", "BatchWriteItem", "PutEvents")]
    assert sorted(writes) == sorted([("PutEvents", len(callers)), *[("PutItem", 0)] * len(callers)])
    # the pointers, the proxies' index entries, then the 13 keys they were built from (the mesh, its service,
    # router and route, blue, red, the five callers, the mesh's and the router's counters); no Query at all:
    # none of the mesh's items, and none of blue's and red's endpoints, whose assignments the route change
    # leaves as each caller last published them
    reads = [c for c in calls if c[0] in ("BatchGetItem", "Query")]
    assert reads == [("BatchGetItem", len(callers)), ("BatchGetItem", len(callers)), ("BatchGetItem", 13)]
    assert {published_generation(world, c) for c in callers} == {4}
    assert sorted(a["nodeId"] for a in world.announcements()) == sorted(c.path for c in callers)
    index = world.pipeline.index.entries(mesh)
    route = f"mesh/{mesh}/virtualRouter/{ROUTER}/route/hot-route"
    assert all(route in index[c.path].deps for c in callers)


def test_a_redelivered_shard_writes_again_the_index_entry_that_differs_from_what_its_proxy_was_built_from(
        hot: tuple[World, list[ProxyId], str]) -> None:
    """A shard that published but died before its entries were flushed left an entry behind its snapshot: run again
    (a failed shard leaves no idempotency record; a fresh message id stands for that here), it finds the snapshot
    unchanged and writes that entry, and only that one."""
    world, callers, mesh = hot
    pipeline, url = sharding(world, threshold=2, size=len(callers))
    route_change(world, mesh, 5)
    pipeline.recompute({"Records": world.stream.drain()}, LambdaContext())
    (body,) = receive_all(world, url)
    assert pipeline.recompute_shard(sqs_batch([body]), LambdaContext()) == {"batchItemFailures": []}
    index = world.pipeline.index
    built_from = index.entries(mesh)[callers[0].path]
    route = f"mesh/{mesh}/virtualRouter/{ROUTER}/route/hot-route"
    index.put(mesh, callers[0].path, built_from.deps - {route}, built_from.endpoint_deps)  # an older build's entry
    written: list[int] = []
    world.clients.dynamodb.meta.events.register(
        "provide-client-params.dynamodb.BatchWriteItem",
        lambda params, **_: written.append(sum(len(r) for r in params["RequestItems"].values())))

    assert pipeline.recompute_shard(sqs_batch([{**body, "id": f"{body['id']}-retry"}]), LambdaContext()) == {
        "batchItemFailures": []}

    assert written == [1] and index.entries(mesh)[callers[0].path] == built_from


@contextmanager
def mesh_queries(world: World, mesh: str) -> Iterator[list[str]]:
    """The key conditions of the Queries of the mesh's own partition made inside the block."""
    listed: list[str] = []

    def seen(params: dict[str, Any], **_: Any) -> None:
        if params.get("ExpressionAttributeValues", {}).get(":pk", {}).get("S") == f"MESH#{mesh}":
            listed.append(params.get("KeyConditionExpression", ""))

    world.clients.dynamodb.meta.events.register("provide-client-params.dynamodb.Query", seen)
    try:
        yield listed
    finally:
        world.clients.dynamodb.meta.events.unregister("provide-client-params.dynamodb.Query", seen)


def full_render_version(world: World, proxy: ProxyId) -> str:
    recomputer = world.pipeline.recomputer
    return world.pipeline.parts.translator.translate(recomputer.load(proxy.mesh), proxy).version


def assert_full_renders_published(world: World, proxies: list[ProxyId]) -> None:
    """Each proxy's published version is what a render from the whole mesh makes."""
    for proxy in proxies:
        assert world.pipeline.pointers.get(proxy.path).version == full_render_version(world, proxy)


def test_a_shard_reads_what_a_change_adds_beyond_its_proxies_entries_and_publishes_the_full_render(
        hot: tuple[World, list[ProxyId], str]) -> None:
    """The route gains a target no caller was built from: each shard reads it by key, after the entries' part of
    the mesh, and publishes what a render from the whole mesh makes; the mesh's items are never listed."""
    world, callers, mesh = hot
    world.put(Kind.VIRTUAL_NODE, mesh, "green", {"listeners": [meshes.listener(8080)]})
    world.recompute()
    pipeline, url = sharding(world, threshold=2, size=2)
    world.put(Kind.ROUTE, mesh, "hot-route", meshes.http_route(("blue", 1), ("green", 1), prefix="/gen005/"),
              parent=ROUTER)
    pipeline.recompute({"Records": world.stream.drain()}, LambdaContext())
    bodies = receive_all(world, url)
    with mesh_queries(world, mesh) as listed:
        assert pipeline.recompute_shard(sqs_batch(bodies), LambdaContext()) == {"batchItemFailures": []}
    assert listed == []
    assert {published_generation(world, c) for c in callers} == {5}
    assert_full_renders_published(world, callers)
    for caller in callers:
        assert f"mesh/{mesh}/virtualNode/green" in world.pipeline.index.entries(mesh)[caller.path].deps


def test_a_full_pass_is_sent_in_shards_that_each_read_the_whole_mesh_and_publish_the_full_render(
        hot: tuple[World, list[ProxyId], str]) -> None:
    """The reconcile's sweep rebuilds every proxy: its shards read the mesh in one Query, not their parts by key."""
    world, callers, mesh = hot
    pipeline, url = sharding(world, threshold=2, size=2)
    route_change(world, mesh, 6)
    world.stream.drain()  # the change is left to the full pass

    assert pipeline.recomputer.recompute(mesh, full=True).shards == 1  # seven proxies: one shard of a full pass
    (body,) = receive_all(world, url)
    assert body["whole_mesh"] is True
    with mesh_queries(world, mesh) as listed:
        assert pipeline.recompute_shard(sqs_batch([body]), LambdaContext()) == {"batchItemFailures": []}

    assert listed == ["pk = :pk"]
    assert {published_generation(world, c) for c in callers} == {6}
    assert_full_renders_published(world, callers)


class CountingGraph(ModuleGraph):
    """The module graph, counting the proxies whose dependencies are resolved."""

    def __init__(self) -> None:
        self.resolved: list[ProxyId] = []

    def dependency_paths(self, state: Any, proxy: ProxyId) -> Any:
        self.resolved.append(proxy)
        return super().dependency_paths(state, proxy)


def test_a_shard_stops_resolving_ahead_once_its_proxies_ask_for_nothing_new_and_still_publishes_the_full_render(
        module_world: World) -> None:
    """Twenty callers gain the same target: the first resolved asks for it, the next `SETTLED` ask for nothing new,
    and the rest are resolved only by their own rebuild, all in one round (a proxy that read beyond the part
    would be rebuilt a second time)."""
    world, mesh = module_world, "settled"
    callers = hot_mesh(world, mesh, 20)
    world.put(Kind.VIRTUAL_NODE, mesh, "green", {"listeners": [meshes.listener(8080)]})
    world.recompute()
    graph = CountingGraph()
    pipeline, url = sharding(world, threshold=2, size=len(callers), graph=graph)
    world.put(Kind.ROUTE, mesh, "hot-route", meshes.http_route(("blue", 1), ("green", 1), prefix="/gen008/"),
              parent=ROUTER)
    pipeline.recompute({"Records": world.stream.drain()}, LambdaContext())
    (body,) = receive_all(world, url)
    graph.resolved.clear()
    assert pipeline.recompute_shard(sqs_batch([body]), LambdaContext()) == {"batchItemFailures": []}
    assert len(graph.resolved) == 1 + SETTLED + len(callers)
    assert {published_generation(world, c) for c in callers} == {8}
    assert_full_renders_published(world, callers)


def test_a_hot_route_change_is_sent_as_shards_from_the_index_without_reading_the_meshs_resources(
        hot: tuple[World, list[ProxyId], str]) -> None:
    world, callers, mesh = hot
    pipeline, url = sharding(world, threshold=2, size=2)
    route_change(world, mesh, 9)
    with mesh_queries(world, mesh) as listed:
        pipeline.recompute({"Records": world.stream.drain()}, LambdaContext())
    assert listed == []  # only the index was read
    bodies = receive_all(world, url)
    assert sorted(path for body in bodies for path in body["full"]) == sorted(c.path for c in callers)
    assert pipeline.recompute_shard(sqs_batch(bodies), LambdaContext()) == {"batchItemFailures": []}
    assert {published_generation(world, c) for c in callers} == {9}


def test_a_route_added_to_a_hot_router_is_planned_from_the_mesh_since_its_callers_must_be_resolved(
        hot: tuple[World, list[ProxyId], str]) -> None:
    """The callers' entries name the router, whose routes they list, but not the new route: whether they read it
    takes resolving them, which takes the mesh."""
    world, callers, mesh = hot
    pipeline, url = sharding(world, threshold=2, size=len(callers))
    world.put(Kind.ROUTE, mesh, "second-route", meshes.http_route(("red", 1), prefix="/second/"), parent=ROUTER)
    with mesh_queries(world, mesh) as listed:
        pipeline.recompute({"Records": world.stream.drain()}, LambdaContext())
    assert "pk = :pk" in listed
    bodies = receive_all(world, url)
    assert sorted(path for body in bodies for path in body["full"]) == sorted(c.path for c in callers)
    assert pipeline.recompute_shard(sqs_batch(bodies), LambdaContext()) == {"batchItemFailures": []}
    assert_full_renders_published(world, callers)


def test_a_hot_change_planned_from_the_index_rebuilds_callers_whose_first_publish_is_still_in_flight(
        hot: tuple[World, list[ProxyId], str]) -> None:
    """Two callers are created and sent out as shards that have not run yet when the route changes: the index holds
    placeholders for them, so the route change's shards rebuild them too, and whichever shard runs last publishes
    the newest route."""
    world, callers, mesh = hot
    pipeline, url = sharding(world, threshold=1, size=2)
    newcomers = [ProxyId(mesh, Kind.VIRTUAL_NODE, name) for name in ("late-0", "late-1")]
    for proxy in newcomers:
        world.put(Kind.VIRTUAL_NODE, mesh, proxy.name, {
            "listeners": [meshes.listener(9000)], "backends": [{"virtualService": {"virtualServiceName": SERVICE}}]})
    pipeline.recompute({"Records": world.stream.drain()}, LambdaContext())
    creation = receive_all(world, url)
    assert {path for body in creation for path in body["full"]} >= {p.path for p in newcomers}
    route_change(world, mesh, 13)
    with mesh_queries(world, mesh) as listed:
        pipeline.recompute({"Records": world.stream.drain()}, LambdaContext())
    assert listed == []
    change = receive_all(world, url)
    assert {path for body in change for path in body["full"]} == {p.path for p in [*callers, *newcomers]}
    for bodies in (change, creation):  # the older shards run last
        assert pipeline.recompute_shard(sqs_batch(bodies), LambdaContext()) == {"batchItemFailures": []}
    assert {published_generation(world, c) for c in [*callers, *newcomers]} == {13}


def test_a_small_route_change_is_rebuilt_in_line_from_its_dependents_part_without_reading_the_mesh(
        hot: tuple[World, list[ProxyId], str]) -> None:
    world, callers, mesh = hot
    route_change(world, mesh, 11)
    with mesh_queries(world, mesh) as listed:
        world.recompute()  # the world's own pipeline: no shard queue, every plan rebuilt in line
    assert listed == []
    assert {published_generation(world, c) for c in callers} == {11}
    assert_full_renders_published(world, callers)


def test_a_small_change_whose_rebuilds_read_beyond_their_part_is_rebuilt_from_the_whole_mesh(
        hot: tuple[World, list[ProxyId], str]) -> None:
    """The callers' service moves to a new router whose route targets a new node: the part holds the router, the
    rebuilds then read the node beyond it, and the change is rebuilt from the whole mesh instead."""
    world, callers, mesh = hot
    world.put(Kind.VIRTUAL_NODE, mesh, "green", {"listeners": [meshes.listener(8080)]})
    world.put(Kind.VIRTUAL_ROUTER, mesh, "green-router", {"listeners": [meshes.listener(8080)]})
    world.put(Kind.ROUTE, mesh, "green-route", meshes.http_route(("green", 1), prefix="/gen012/"),
              parent="green-router")
    world.recompute()
    provider = {"virtualRouter": {"virtualRouterName": "green-router"}}
    world.put(Kind.VIRTUAL_SERVICE, mesh, SERVICE, {"provider": provider})
    with mesh_queries(world, mesh) as listed:
        world.recompute()
    assert "pk = :pk" in listed
    assert {published_generation(world, c) for c in callers} == {12}
    assert_full_renders_published(world, callers)


def test_a_shard_reads_the_whole_mesh_for_a_proxy_the_index_does_not_know(
        hot: tuple[World, list[ProxyId], str]) -> None:
    world, callers, mesh = hot
    pipeline, url = sharding(world, threshold=2, size=len(callers))
    route_change(world, mesh, 6)
    pipeline.recompute({"Records": world.stream.drain()}, LambdaContext())
    (body,) = receive_all(world, url)
    world.pipeline.index.delete(mesh, callers[0].path)
    with mesh_queries(world, mesh) as listed:
        assert pipeline.recompute_shard(sqs_batch([body]), LambdaContext()) == {"batchItemFailures": []}
    assert listed == ["pk = :pk"]  # the whole partition, once
    assert {published_generation(world, c) for c in callers} == {6}


def test_a_shard_whose_proxies_reach_two_resources_beyond_their_entries_reads_parts_and_never_the_mesh(
        hot: tuple[World, list[ProxyId], str]) -> None:
    """The callers' service moves to a new router whose route targets a new node: the part read first holds the
    new router (the proxies ask for it), the rebuild then misses the new node, and the shard reads the part
    again with it; what it publishes is the full render, and the mesh's partition is never listed whole."""
    world, callers, mesh = hot
    world.put(Kind.VIRTUAL_NODE, mesh, "green", {"listeners": [meshes.listener(8080)]})
    world.put(Kind.VIRTUAL_ROUTER, mesh, "green-router", {"listeners": [meshes.listener(8080)]})
    world.put(Kind.ROUTE, mesh, "green-route", meshes.http_route(("green", 1), prefix="/gen007/"),
              parent="green-router")
    world.recompute()  # green's own first publish, in line
    pipeline, url = sharding(world, threshold=2, size=len(callers))
    provider = {"virtualRouter": {"virtualRouterName": "green-router"}}
    world.put(Kind.VIRTUAL_SERVICE, mesh, SERVICE, {"provider": provider})
    pipeline.recompute({"Records": world.stream.drain()}, LambdaContext())
    bodies = receive_all(world, url)
    with mesh_queries(world, mesh) as listed:
        assert pipeline.recompute_shard(sqs_batch(bodies), LambdaContext()) == {"batchItemFailures": []}
    assert "pk = :pk" not in listed
    assert {published_generation(world, c) for c in callers} == {7}
    assert_full_renders_published(world, callers)
