"""Events for nodes without a stream are put off until the events pause; connected Envoys come first.

`SnapshotCache.published` is what the server's queue consumer calls for every ConfigPublished.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from meshplane.delivery.cache import SnapshotCache
from meshplane.delivery.idle import IdleWork
from meshplane.delivery.metrics import Metrics
from meshplane.model.ids import ProxyId
from meshplane.publication.pointer import Pointer
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.types import XdsType

from .test_warm_cache import CountingSource, inline, node, nop

LONG = 3600.0  # a pause that never comes within a test


class VersionedSource(CountingSource):
    """Every publish kept under a key of its own, as the bucket keeps them: a pointer read names one."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: dict[str, Snapshot] = {}

    def publish(self, node: str, tag: str) -> ProxyId:
        proxy = super().publish(node, tag)
        self.bodies[f"{node}@{tag}"] = self.snapshots[node]
        return proxy

    def pointer(self, proxy: ProxyId) -> Pointer | None:
        self.calls["pointer"] += 1
        found = self.snapshots.get(proxy.path)
        if found is None:
            return None
        key = next(key for key, body in self.bodies.items() if body is found)
        return Pointer(found.version, key)

    def fetch(self, pointer: Pointer) -> Snapshot:
        self.calls["fetch"] += 1
        return self.bodies[pointer.key]


def cache_of(source: CountingSource, quiet: float, most: float = LONG,
             run_blocking: Callable[..., Any] = inline, metrics: Metrics | None = None) -> SnapshotCache:  # fmt: skip
    return SnapshotCache(source, metrics or Metrics(), run_blocking=run_blocking, retain=10,  # type: ignore[arg-type]
                         idle_quiet=quiet, idle_most=most)


def clusters(cache_view: Any) -> list[str]:
    return sorted(cache_view.types[XdsType.CLUSTERS].resources)


async def idle_at(cache: SnapshotCache, source: CountingSource, name: str, tag: str) -> ProxyId:
    """A node published at `tag`, streamed once and left idle."""
    proxy = source.publish(node(name), tag)
    await cache.watch(proxy, nop)
    cache.unwatch(proxy, nop)
    return proxy


def test_an_idle_nodes_events_are_read_once_after_they_pause_however_many_came() -> None:
    async def scenario() -> None:
        source, metrics = CountingSource(), Metrics()
        cache = cache_of(source, quiet=0.2, metrics=metrics)
        proxy = await idle_at(cache, source, "a", "a")
        reads = source.calls.copy()
        for tag in ("b", "c", "d"):
            source.publish(node("a"), tag)
            assert await cache.published(proxy) == []
        assert source.calls == reads  # nothing read while the events come
        assert metrics.refreshes_put_off == 3
        await cache.caught_up()
        assert source.calls["pointer"] == reads["pointer"] + 1
        assert source.calls["fetch"] == reads["fetch"] + 1
        before = source.calls.copy()
        assert clusters(await cache.watch(proxy, nop)) == ["cds_d_1", "cds_d_2"]
        assert source.calls == before  # caught up: its Envoy is served from memory

    asyncio.run(scenario())


def test_a_node_with_a_stream_is_pushed_the_change_at_once() -> None:
    async def scenario() -> None:
        source, metrics = CountingSource(), Metrics()
        cache = cache_of(source, quiet=LONG, metrics=metrics)
        proxy = source.publish(node("a"), "a")
        pushed: list[list[XdsType]] = []
        await cache.watch(proxy, pushed.append)
        source.publish(node("a"), "b")
        assert XdsType.CLUSTERS in await cache.published(proxy)
        assert pushed and XdsType.CLUSTERS in pushed[0]
        assert clusters(cache.view(proxy)) == ["cds_b_1", "cds_b_2"]
        assert metrics.refreshes_put_off == 0

    asyncio.run(scenario())


async def left_behind(source: CountingSource) -> tuple[SnapshotCache, ProxyId]:
    """Node "a" idle at "a", then "b" published and its event put off (no pause comes)."""
    cache = cache_of(source, quiet=LONG)
    proxy = await idle_at(cache, source, "a", "a")
    source.publish(node("a"), "b")
    await cache.published(proxy)
    return cache, proxy


def test_an_envoy_connecting_to_a_node_left_behind_gets_the_newest_publish_not_the_view_held() -> None:
    async def scenario() -> None:
        cache, proxy = await left_behind(CountingSource())
        assert clusters(await cache.watch(proxy, nop)) == ["cds_b_1", "cds_b_2"]

    asyncio.run(scenario())


def test_an_event_arriving_while_a_node_left_behind_is_read_is_read_too_before_its_envoy_is_served() -> None:
    async def scenario() -> None:
        source = VersionedSource()
        raced: list[str] = []
        cache: SnapshotCache

        async def racing(fn: Callable[..., Any], *args: Any) -> Any:
            result = fn(*args)
            if fn == source.pointer and not raced:  # a newer publish and its event land during this read
                raced.append("c")
                source.publish(node("a"), "c")
                await cache.published(ProxyId.parse(node("a")))
            return result

        cache = cache_of(source, quiet=LONG, run_blocking=racing)
        raced.append("setup")
        proxy = await idle_at(cache, source, "a", "a")
        raced.clear()
        source.publish(node("a"), "b")
        await cache.published(proxy)
        assert clusters(await cache.watch(proxy, nop)) == ["cds_c_1", "cds_c_2"]
        assert raced == ["c"]

    asyncio.run(scenario())


async def published_during_first_load(source: VersionedSource) -> tuple[SnapshotCache, asyncio.Future[Any]]:
    """A stream's first load of node "a" reads its pointer at "a"; "b" is published, and its event taken, before
    that load is done.  Returns the cache and the stream's `watch`."""
    proxy = source.publish(node("a"), "a")
    gate, loading = asyncio.Event(), asyncio.Event()

    async def gated(fn: Callable[..., Any], *args: Any) -> Any:
        result = fn(*args)
        if not gate.is_set():
            loading.set()
            await gate.wait()
        return result

    cache = cache_of(source, quiet=LONG, run_blocking=gated)
    stream = asyncio.ensure_future(cache.watch(proxy, nop))
    await loading.wait()
    source.publish(node("a"), "b")
    assert await cache.published(proxy) == []
    gate.set()
    return cache, stream


def unreadable_from(source: VersionedSource, tag: str) -> None:
    readable = source.fetch

    def fetch(pointer: Pointer) -> Snapshot:
        if pointer.key.endswith(f"@{tag}"):
            raise OSError("unreadable body")
        return readable(pointer)

    source.fetch = fetch  # type: ignore[method-assign]


def test_an_event_that_comes_while_a_streams_first_load_runs_is_read_before_that_stream_is_served() -> None:
    async def scenario() -> None:
        _cache, stream = await published_during_first_load(VersionedSource())
        assert clusters(await stream) == ["cds_b_1", "cds_b_2"]

    asyncio.run(scenario())


def test_a_first_load_that_cannot_be_read_again_is_not_left_held_for_its_stream() -> None:
    async def scenario() -> None:
        source = VersionedSource()
        unreadable_from(source, "b")
        cache, stream = await published_during_first_load(source)
        with pytest.raises(OSError):
            await stream
        assert cache.idle_paths == [node("a")]  # released: idle, still behind, so the next stream tries again

    asyncio.run(scenario())


def test_an_idle_node_that_cannot_be_read_again_for_its_stream_stays_idle() -> None:
    async def scenario() -> None:
        source = VersionedSource()
        cache, proxy = await left_behind(source)
        unreadable_from(source, "b")
        with pytest.raises(OSError):
            await cache.watch(proxy, nop)
        assert cache.idle_paths == [node("a")]

    asyncio.run(scenario())


def test_an_event_for_a_node_not_held_warms_it_once_the_events_pause() -> None:
    async def scenario() -> None:
        source = CountingSource()
        cache = cache_of(source, quiet=0.05)
        proxy = source.publish(node("new"), "a")
        await cache.published(proxy)
        assert cache.node_paths == []
        await cache.caught_up()
        assert cache.idle_paths == [node("new")]

    asyncio.run(scenario())


def test_a_closed_cache_drops_what_it_put_off() -> None:
    async def scenario() -> None:
        source = CountingSource()
        cache = cache_of(source, quiet=0.05)
        await cache.published(source.publish(node("new"), "a"))
        cache.close()
        await cache.caught_up()
        await asyncio.sleep(0.1)
        assert cache.node_paths == []
        assert source.calls["fetch"] == 0

    asyncio.run(scenario())


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def _nothing(_path: str, _hint: str) -> None:
    return None


def test_idle_work_waits_for_a_pause_in_the_names_but_no_longer_than_its_bound() -> None:
    async def scenario() -> None:
        clock = Clock()
        work = IdleWork(_nothing, quiet=1.0, most=30.0, clock=clock)
        work.name("a")
        assert work.due_in() == 1.0
        while clock.now < 29.5:  # a name every half second: the pause never comes
            clock.now += 0.5
            work.name("b")
            assert work.due_in() == min(1.0, 30.0 - clock.now)
        clock.now = 30.0
        assert work.due_in() == 0.0  # "a" waited its most
        work.close()

    asyncio.run(scenario())


def test_idle_work_keeps_one_entry_per_node_in_the_order_first_named_with_the_latest_hint() -> None:
    async def scenario() -> None:
        done: list[tuple[str, str]] = []

        async def record(path: str, hint: str) -> None:
            done.append((path, hint))

        work = IdleWork(record, quiet=0.05, most=LONG)
        for path, hint in (("a", "1"), ("b", "1"), ("a", "2")):
            work.name(path, hint)
        assert len(work) == 2
        await work.drained()
        assert done == [("a", "2"), ("b", "1")]

    asyncio.run(scenario())


def test_idle_work_goes_on_past_a_node_whose_refresh_fails() -> None:
    async def scenario() -> None:
        done: list[str] = []

        async def flaky(path: str, _hint: str) -> None:
            if path == "bad":
                raise OSError("unreadable")
            done.append(path)

        work = IdleWork(flaky, quiet=0.0, most=0.0)
        work.name("bad")
        work.name("good")
        await work.drained()
        assert done == ["good"]

    asyncio.run(scenario())


def test_the_command_line_sets_how_long_idle_refreshes_wait_and_defaults_to_a_second_and_thirty_at_most() -> None:
    import argparse

    import boto3
    from meshplane.delivery.cli import _ads_options, register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"), {})
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    given = parser.parse_args(["ads", "--bucket", "b", "--idle-quiet-seconds", "2.5", "--idle-most-seconds", "12"])
    options = _ads_options(given, session, "b")
    assert (options.idle_quiet_seconds, options.idle_most_seconds) == (2.5, 12.0)
    options = _ads_options(parser.parse_args(["ads", "--bucket", "b"]), session, "b")
    assert (options.idle_quiet_seconds, options.idle_most_seconds) == (1.0, 30.0)
