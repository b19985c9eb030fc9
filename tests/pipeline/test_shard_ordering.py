"""Property: shards of overlapping hot changes, run in any interleaving, never leave a proxy on an older version.

A deterministic scheduler plays Lambda: every shard runs on its own thread (its own
pipeline container, publishing on one thread of its own so the order stays the
scheduler's), but only one thread runs at a time, and each pauses right after it loads
the mesh state, the point where a slow invocation falls behind a newer change, and
right after each pointer write, where it has published part of its proxies and holds
their index entries and events unsent.  Hypothesis picks every step: apply the next
route change (its recompute sends the shards, which start at once and pause after their
load), let a paused shard go on, crash a paused shard (the process dies: what it held
is lost, and SQS redelivers it), deliver a shard twice, or start a redelivered one.
Then everything left runs to its end.

Checked on every pointer write the table accepted: per proxy, the generations of the
route it was built from never go down; at the end every proxy has the last one, and
its index entry (written in batches) names the route.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from meshplane.model.ids import ProxyId
from meshplane.pipeline import shards
from meshplane.pipeline.ports import consistency_validator
from meshplane.pipeline.runtime import Pipeline
from meshplane.pipeline.telemetry import Telemetry

from .conftest import LambdaContext, World, make_world, sqs_batch
from .test_shards import ROUTER, generation_of, hot_mesh, published_generation, receive_all, route_change, sharding

MESH = "ordering"
CALLERS = 3  # threshold 1, shards of 2: every change is two shards, one with two proxies
CURRENT = threading.local()  # the scheduled shard the running thread is, if any


class Crash(Exception):
    """The invocation died (timeout, out of memory) after loading the state."""


class Shard:
    """One delivery of one shard message, on its own thread, advanced only by the scheduler."""

    def __init__(self, pipeline: Pipeline, body: dict[str, Any]) -> None:
        self.pipeline, self.body = pipeline, body
        self.turn, self.yielded = threading.Semaphore(0), threading.Semaphore(0)
        self.crash = False
        self.finished = False
        self.result: dict[str, Any] = {}
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        CURRENT.shard = self
        self.turn.acquire()
        try:
            self.result = self.pipeline.recompute_shard(sqs_batch([self.body]), LambdaContext())
        finally:
            self.finished = True
            self.yielded.release()

    def checkpoint(self) -> None:
        """In the shard's thread (or its publishing thread), after a state load or a pointer write: hand the turn
        back and wait for the next.  A crash loses what the container held unsent, as a dead process would."""
        self.yielded.release()
        self.turn.acquire()
        if self.crash:
            worker = self.pipeline.shard_worker
            for batch in worker._batches:  # the held index entries and events die with the process
                batch._held.clear()
            raise Crash("the invocation died")

    def step(self) -> None:
        """Let the shard run to its next state load or to its end."""
        self.turn.release()
        assert self.yielded.acquire(timeout=60), "a shard neither paused nor finished"

    def __repr__(self) -> str:
        return f"Shard({self.body['index'] + 1}/{self.body['count']} of {self.body['id'].rsplit('-', 1)[0][:6]})"

    @property
    def failed(self) -> bool:
        return bool(self.result.get("batchItemFailures"))


class PausingLoader:
    """The real loader; a scheduled shard's thread pauses after each load."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def load_mesh_state(self, mesh: str) -> Any:
        state = self.inner.load_mesh_state(mesh)
        shard = getattr(CURRENT, "shard", None)
        if shard is not None:
            shard.checkpoint()
        return state

    def list_mesh_names(self) -> list[str]:
        return list(self.inner.list_mesh_names())


class PartPausingLoader(PausingLoader):
    """The same, able to read the part of a mesh a shard's proxies read (`Recomputer.load_within`), pausing after
    each such read too: the shards then read the whole mesh only for proxies never published."""

    def load_dependencies(self, mesh: str, paths: Any) -> Any:
        state = self.inner.load_dependencies(mesh, paths)
        shard = getattr(CURRENT, "shard", None)
        if shard is not None:
            shard.checkpoint()
        return state


LOADERS = pytest.mark.parametrize("loader_kind", [PausingLoader, PartPausingLoader], ids=["whole", "part"])


class Writes:
    """The table client, remembering every pointer write it accepted: (node path, snapshot key)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.pointers: list[tuple[str, str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def put_item(self, **kwargs: Any) -> Any:
        response = self._client.put_item(**kwargs)
        item = kwargs["Item"]
        if item["sk"]["S"] == "POINTER":
            self.pointers.append((item["pk"]["S"].removeprefix("PROXY#"), item["key"]["S"]))
            shard = getattr(CURRENT, "shard", None)
            if shard is not None:
                shard.checkpoint()
        return response


SINK = type("Sink", (), {"write": lambda self, text: len(text), "flush": lambda self: None})()


def container(dispatcher: Pipeline, writes: Writes, loader: PausingLoader) -> Pipeline:
    """A fresh shard-function container: its own pipeline and Powertools, sharing the account."""
    telemetry = Telemetry(Logger(service="shard-prop", stream=SINK), Tracer(disabled=True),
                          EphemeralMetrics(namespace="MeshplaneTest"))
    pipeline = Pipeline(dispatcher.settings, dataclasses.replace(dispatcher.clients, dynamodb=writes),
                        dataclasses.replace(dispatcher.parts, loader=loader), telemetry)
    pipeline.shard_worker._threads = 1  # one publishing thread: it pauses where the scheduler says
    return pipeline


class AdoptingPool(ThreadPoolExecutor):
    """The shard's publishing pool; its thread is the scheduled shard the thread that made it is."""

    def __init__(self, workers: int) -> None:
        super().__init__(workers, initializer=_adopt, initargs=(getattr(CURRENT, "shard", None),))


def _adopt(shard: Shard | None) -> None:
    CURRENT.shard = shard


class Scheduler:
    """The queue, the running shards and the changes still to come, of one example."""

    def __init__(self, world: World, mesh: str, changes: int, dispatcher: Pipeline, url: str, writes: Writes,
                 loader: PausingLoader) -> None:
        self.world, self.mesh, self.dispatcher, self.url = world, mesh, dispatcher, url
        self.writes, self.loader = writes, loader
        self.left = list(range(1, changes + 1))
        self.queued: list[dict[str, Any]] = []  # redelivered or duplicated messages, not started yet
        self.sent: list[dict[str, Any]] = []
        self.running: list[Shard] = []

    def paused(self) -> list[Shard]:
        return [s for s in self.running if not s.finished]

    def moves(self) -> list[str]:
        return (["change"] * bool(self.left) + ["start"] * bool(self.queued)
                + ["go on", "crash"] * bool(self.paused()) + ["duplicate"] * bool(self.sent))

    def change(self) -> None:
        route_change(self.world, self.mesh, self.left.pop(0))
        result = self.dispatcher.recompute({"Records": self.world.stream.drain()}, LambdaContext())
        assert result == {"batchItemFailures": []}
        for body in receive_all(self.world, self.url):  # Lambda picks each up at once; each pauses after its load
            self.sent.append(body)
            self.start(body)

    def start(self, body: dict[str, Any]) -> None:
        shard = Shard(container(self.dispatcher, self.writes, self.loader), body)
        self.running.append(shard)
        shard.step()
        self.redeliver()

    def go_on(self, shard: Shard, *, crash: bool = False) -> None:
        shard.crash = crash
        shard.step()
        self.redeliver()

    def redeliver(self) -> None:
        """SQS redelivers a failed message."""
        for shard in [s for s in self.running if s.finished and s.failed]:
            self.running.remove(shard)
            self.queued.append(shard.body)

    def play(self, data: Any, steps: int) -> None:
        for _ in range(steps):
            moves = self.moves()
            if not moves:
                return
            move = data.draw(st.sampled_from(moves), label="move")
            if move == "change":
                self.change()
            elif move == "start":
                self.start(self.queued.pop(data.draw(st.integers(0, len(self.queued) - 1), label="which queued")))
            elif move == "duplicate":
                self.queued.append(dict(data.draw(st.sampled_from(self.sent), label="delivered twice")))
            else:
                self.go_on(data.draw(st.sampled_from(self.paused()), label="which paused"), crash=move == "crash")

    def finish(self) -> None:
        """Everything left, to its end: paused shards go on, redeliveries start, changes still to come apply."""
        while self.left or self.queued or self.paused():
            for shard in self.paused():
                self.go_on(shard)
            if self.queued:
                self.start(self.queued.pop(0))
            elif self.left and not self.paused():
                self.change()

    def release(self) -> None:
        """A failed example leaves none of its threads waiting."""
        for shard in self.paused():
            shard.crash = True
            shard.turn.release()


@pytest.fixture(scope="module")
def ordering_world() -> Any:
    from moto import mock_aws

    mp = pytest.MonkeyPatch()
    mp.setattr(shards, "ThreadPoolExecutor", AdoptingPool)
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true",
                       "POWERTOOLS_SERVICE_NAME": "meshplane-pipeline-test-shard-ordering",
                       "POWERTOOLS_METRICS_NAMESPACE": "MeshplaneTest"}.items():
        mp.setenv(key, value)
    mp.delenv("AWS_ENDPOINT_URL", raising=False)
    try:
        with mock_aws():
            yield make_world(atomic=True, validators=[consistency_validator])
    finally:
        mp.undo()


def check(world: World, writes: Writes, callers: list[ProxyId], last: int) -> None:
    """Per caller, the routes of the accepted pointer writes never go back; each ends on the `last`."""
    history: dict[str, list[int]] = {}
    paths = {c.path for c in callers}  # the route's targets do not carry it
    for path, key in writes.pointers:
        if path in paths:
            body = world.clients.s3.get_object(Bucket=world.settings.bucket, Key=key)["Body"].read()
            history.setdefault(path, []).append(generation_of(body))
    for path, seen in history.items():
        assert seen == sorted(seen), f"{path} went back to an older route: {seen}"
    assert {c.path: published_generation(world, c) for c in callers} == {c.path: last for c in callers}
    index = world.pipeline.index.entries(callers[0].mesh)
    route = f"mesh/{callers[0].mesh}/virtualRouter/{ROUTER}/route/hot-route"
    written = {c.path for c in callers if c.path in index and route in index[c.path].deps}
    assert written == paths, "an index entry was never written"


@LOADERS
def test_a_shard_that_loaded_before_a_newer_change_never_publishes_over_it(
        ordering_world: World, loader_kind: type[PausingLoader]) -> None:
    """The race itself, once: change 1's first shard loads, change 2's first shard runs to its end, then
    change 1's goes on.  Its pointer read came before change 2's publish, so its write is refused."""
    world = ordering_world
    mesh = f"{MESH}-race-{loader_kind.__name__.lower()}"
    callers = hot_mesh(world, mesh, CALLERS)
    writes = Writes(world.clients.dynamodb)
    dispatcher, url = sharding(world, threshold=1, size=2)
    scheduler = Scheduler(world, mesh, 2, dispatcher, url, writes, loader_kind(world.pipeline.parts.loader))
    try:
        scheduler.change()
        scheduler.change()
        older, newer = scheduler.running[0], scheduler.running[len(scheduler.running) // 2]
        assert (older.body["index"], newer.body["index"]) == (0, 0)
        while not newer.finished:  # it pauses after each of its pointer writes too
            scheduler.go_on(newer)
        scheduler.go_on(older)
        scheduler.finish()
    finally:
        scheduler.release()
    check(world, writes, callers, 2)


@LOADERS
def test_overlapping_sharded_changes_never_leave_a_proxy_on_an_older_route(
        ordering_world: World, loader_kind: type[PausingLoader]) -> None:
    """One account for all examples, a new mesh for each (so a replayed example behaves the same).

    The first change publishes every proxy for the first time, through shards too.  No
    shrinking: a shrink step costs a mesh; a failing example prints its moves as drawn.
    """
    world = ordering_world
    names = itertools.count()
    writes = Writes(world.clients.dynamodb)
    loader = loader_kind(world.pipeline.parts.loader)
    dispatcher, url = sharding(world, threshold=1, size=2)
    prefix = f"{MESH}-{loader_kind.__name__.lower()}-"

    @settings(max_examples=4, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate))
    @given(data=st.data(), changes=st.integers(min_value=2, max_value=3), steps=st.integers(4, 16))
    def example(data: Any, changes: int, steps: int) -> None:
        mesh = f"{prefix}{next(names)}"
        callers = hot_mesh(world, mesh, CALLERS)
        writes.pointers.clear()
        scheduler = Scheduler(world, mesh, changes, dispatcher, url, writes, loader)
        try:
            scheduler.play(data, steps)
            scheduler.finish()
        finally:
            scheduler.release()
        check(world, writes, callers, changes)

    example()
