"""The idle cache is bounded by bytes as well as by count, so a task's memory can be sized.

Sizes are `memory.held_bytes` estimates: the packed resources and the response bytes a node
holds.  Unit tests drive `SnapshotCache` against the counting in-memory source; the last
test runs the real `AdsService` against moto and reads its metrics.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from meshplane.delivery.cache import SnapshotCache
from meshplane.delivery.memory import BLOB_OVERHEAD, DELTA_OVERHEAD, NODE_OVERHEAD
from meshplane.delivery.metrics import Metrics
from meshplane.model.ids import ProxyId
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.types import XdsType

from .harness import CountingAds, Publisher
from .snapshots import snapshot
from .test_warm_cache import CountingSource, inline, node, nop, stream_once


def estimate(snap: Snapshot) -> int:
    """The estimate of a node holding just this snapshot's packed resources, with their fixed overheads."""
    packed = [body for kind in XdsType for body in snap.packed(kind).values()]
    return NODE_OVERHEAD + sum(len(body) + BLOB_OVERHEAD for body in packed)


def sized_cache(source: CountingSource, retain_bytes: int | None, retain: int = 100) -> tuple[SnapshotCache, Metrics]:
    metrics = Metrics()
    cache = SnapshotCache(source, metrics, run_blocking=inline, retain=retain, retain_bytes=retain_bytes)  # type: ignore[arg-type]
    return cache, metrics


def publish_mesh(source: CountingSource, name: str, endpoints: int) -> ProxyId:
    """A node whose EDS resources grow with the number of endpoints: a bigger mesh."""
    addresses = tuple(f"10.0.{i // 250}.{i % 250 + 1}" for i in range(endpoints))
    source.snapshots[node(name)] = snapshot(node(name), name, endpoints=addresses)
    return ProxyId.parse(node(name))


SIZE = estimate(snapshot(node("a"), "a"))  # every `source.publish(node(x), x)` with a one-letter x


def test_a_nodes_size_is_the_resource_bytes_it_holds_grows_with_its_mesh_and_is_in_the_metrics() -> None:
    async def scenario() -> None:
        source = CountingSource()
        cache, metrics = sized_cache(source, retain_bytes=None)
        small, big = publish_mesh(source, "small", endpoints=1), publish_mesh(source, "big", endpoints=40)
        await cache.warm(small)
        small_size = metrics.cache_idle_bytes
        await cache.warm(big)
        big_size = metrics.cache_idle_bytes - small_size
        assert small_size == estimate(source.snapshots[small.path])
        assert big_size == estimate(source.snapshots[big.path])
        assert big_size > small_size + 39 * 20  # ~20 bytes of socket address per endpoint, in each of 2 clusters
        reported = metrics.as_dict()
        assert (reported["cache_idle_nodes"], reported["cache_idle_bytes"]) == (2, small_size + big_size)
        assert cache.idle_bytes == small_size + big_size

    asyncio.run(scenario())


def test_response_bodies_and_delta_chunks_built_for_streams_count_once_the_node_goes_idle() -> None:
    async def scenario() -> None:
        source = CountingSource()
        cache, metrics = sized_cache(source, retain_bytes=None)
        proxy = source.publish(node("a"), "a")
        view = await cache.watch(proxy, nop)
        assert (metrics.cache_streamed_nodes, metrics.cache_streamed_bytes) == (1, SIZE)
        body, _count = view.types[XdsType.CLUSTERS].sotw_body(None)
        listeners = view.types[XdsType.LISTENERS].resources  # both listeners get Delta objects, one a chunk
        chunk = listeners["lds_a_15000"].delta_chunk
        cache.unwatch(proxy, nop)
        assert (metrics.cache_streamed_nodes, metrics.cache_streamed_bytes) == (0, 0)
        built = len(body) + len(chunk) + 2 * BLOB_OVERHEAD + len(listeners) * DELTA_OVERHEAD
        assert metrics.cache_idle_bytes == SIZE + built

    asyncio.run(scenario())


def test_a_stream_closing_re_counts_only_what_streams_built_not_every_packed_resource(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from meshplane.delivery import cache as cache_module

    walks: list[int] = []
    real = cache_module.packed_bytes
    monkeypatch.setattr(cache_module, "packed_bytes", lambda view: walks.append(1) or real(view))

    async def scenario() -> None:
        source = CountingSource()
        cache, metrics = sized_cache(source, retain_bytes=None)
        proxy = source.publish(node("a"), "a")
        await stream_once(cache, [proxy, proxy, proxy])
        assert len(walks) == 1, "the packed resources are summed once for a snapshot"
        assert metrics.cache_idle_bytes == SIZE
        grown = publish_mesh(source, "a", endpoints=40)
        await cache.refresh(grown)  # a new snapshot: its resources are summed once more
        assert len(walks) == 2 and metrics.cache_idle_bytes == estimate(source.snapshots[grown.path])

    asyncio.run(scenario())


def test_idle_nodes_are_evicted_by_bytes_when_the_byte_bound_is_reached_before_the_count_bound() -> None:
    async def scenario() -> None:
        source = CountingSource()
        cache, metrics = sized_cache(source, retain_bytes=SIZE * 5 // 2, retain=10)
        idle = [source.publish(node(n), n) for n in ("a", "b", "c")]
        await stream_once(cache, idle)
        assert cache.idle_paths == [node("b"), node("c")]  # 2 of a count bound of 10: the bytes decided
        assert (metrics.cache_idle_nodes, metrics.cache_idle_bytes, metrics.cache_evictions) == (2, 2 * SIZE, 1)
        fetched = source.calls["fetch"]
        await cache.watch(idle[0], nop)  # a: evicted, loaded again
        assert source.calls["fetch"] == fetched + 1

    asyncio.run(scenario())


def test_an_idle_node_that_grows_on_refresh_past_the_byte_bound_evicts_the_least_recently_used() -> None:
    async def scenario() -> None:
        source = CountingSource()
        cache, metrics = sized_cache(source, retain_bytes=SIZE * 5 // 2)
        older, newer = source.publish(node("a"), "a"), source.publish(node("b"), "b")
        await cache.warm(older)
        await cache.warm(newer)
        grown = publish_mesh(source, "b", endpoints=100)
        grown_size = estimate(source.snapshots[grown.path])
        assert grown_size <= SIZE * 5 // 2 < SIZE + grown_size  # alone it fits the bound, with "a" it does not
        await cache.refresh(grown)
        assert cache.idle_paths == [node("b")]
        assert metrics.cache_idle_bytes == grown_size

    asyncio.run(scenario())


def test_streamed_nodes_are_never_evicted_whatever_their_size() -> None:
    async def scenario() -> None:
        source = CountingSource()
        cache, metrics = sized_cache(source, retain_bytes=1)
        big, small = publish_mesh(source, "big", endpoints=40), source.publish(node("a"), "a")
        await cache.watch(big, nop)
        await cache.watch(small, nop)
        grown = publish_mesh(source, "big", endpoints=80)
        await cache.refresh(grown)  # a streamed node may grow past the bound, too
        streamed = estimate(source.snapshots[big.path]) + SIZE
        assert cache.node_paths == sorted([node("big"), node("a")]) and cache.idle_paths == []
        assert (metrics.cache_streamed_nodes, metrics.cache_streamed_bytes) == (2, streamed)
        assert (metrics.cache_idle_bytes, metrics.cache_evictions) == (0, 0)
        cache.unwatch(big, nop)  # idle now, and larger than the byte bound: not kept
        assert cache.node_paths == [node("a")] and cache.idle_paths == []
        assert (metrics.cache_streamed_bytes, metrics.cache_idle_bytes, metrics.cache_evictions) == (SIZE, 0, 1)

    asyncio.run(scenario())


@pytest.mark.parametrize(("bound", "fetched"), [(2 * SIZE, 2), (SIZE * 5 // 2, 3)], ids=["exact", "crossed"])
def test_preload_stops_warming_at_the_byte_bound(bound: int, fetched: int) -> None:
    async def scenario() -> None:
        source = CountingSource()
        cache, metrics = sized_cache(source, retain_bytes=bound, retain=10)
        proxies = [source.publish(node(n), n) for n in "vwxyz"]  # oldest first, as `recent_proxies` lists them
        assert await cache.preload(proxies) == 2
        assert cache.idle_paths == [node("y"), node("z")]  # the newest is the most recently used
        assert metrics.cache_idle_bytes == 2 * SIZE
        assert source.calls["fetch"] == fetched  # at most the one snapshot crossing the bound is read, and dropped

    asyncio.run(scenario())


def test_the_server_preloads_within_retain_bytes_and_reports_its_idle_cache(
    counting_ads: Callable[..., CountingAds], publisher: Publisher
) -> None:
    older, newer = snapshot(node("older"), "older"), snapshot(node("newer"), "newer")
    publisher.publish(older, notify=False)
    time.sleep(1.1)  # S3 LastModified has one-second resolution
    publisher.publish(newer, notify=False)
    ads = counting_ads(retain_bytes=estimate(newer))
    ads.wait_preloaded()
    assert ads.idle_paths() == [node("newer")]
    assert ads.s3_calls["GetObject"] == 2  # the newer node's pointer and body: the older one was never read
    metrics = ads.metrics()
    assert (metrics.cache_idle_nodes, metrics.cache_idle_bytes) == (1, estimate(newer))
