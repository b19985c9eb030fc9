"""A warm cache: the first Envoy of a node is served from memory, not from the source.

Unit tests drive `SnapshotCache` against a counting in-memory source; the
integration tests run the real `AdsService` against a moto server and count the
S3 calls its client makes.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from meshplane.delivery.cache import SnapshotCache, UnknownNode
from meshplane.delivery.metrics import Metrics
from meshplane.model.ids import Kind, ProxyId
from meshplane.publication.layout import proxy_of_pointer_key
from meshplane.publication.pointer import Pointer
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.types import XdsType

from .harness import CountingAds, Publisher, ThreadedAds
from .rawclient import RawStream, names, sotw
from .snapshots import snapshot

CDS = XdsType.CLUSTERS.type_url


class CountingSource:
    """Snapshots by node path, counting every pointer read and body fetch as S3 GETs would be."""

    def __init__(self) -> None:
        self.snapshots: dict[str, Snapshot] = {}
        self.calls: Counter[str] = Counter()

    def publish(self, node: str, tag: str) -> ProxyId:
        self.snapshots[node] = snapshot(node, tag)
        return ProxyId.parse(node)

    def pointer(self, proxy: ProxyId) -> Pointer | None:
        self.calls["pointer"] += 1
        found = self.snapshots.get(proxy.path)
        return None if found is None else Pointer(found.version, proxy.path)

    def fetch(self, pointer: Pointer) -> Snapshot:
        self.calls["fetch"] += 1
        return self.snapshots[pointer.key]


async def inline(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


def cache_of(source: CountingSource, retain: int) -> SnapshotCache:
    return SnapshotCache(source, Metrics(), run_blocking=inline, retain=retain)  # type: ignore[arg-type]


def nop(_changed: list[XdsType]) -> None:
    return None


def node(name: str) -> str:
    return f"mesh/m/virtualNode/{name}"


async def stream_once(cache: SnapshotCache, proxies: list[ProxyId]) -> None:
    """Open and close one stream per node, in order: each ends up idle, the last most recently used."""
    for proxy in proxies:
        await cache.watch(proxy, nop)
        cache.unwatch(proxy, nop)


def test_a_node_published_before_its_first_stream_is_served_without_touching_the_source() -> None:
    async def scenario() -> None:
        source = CountingSource()
        cache = cache_of(source, retain=10)
        proxy = source.publish(node("a"), "a")
        await cache.refresh(proxy)  # what a ConfigPublished event does
        before = source.calls.copy()
        view = await cache.watch(proxy, nop)
        assert source.calls == before
        assert view.types[XdsType.CLUSTERS].version == source.snapshots[proxy.path].versions[XdsType.CLUSTERS]

    asyncio.run(scenario())


def test_a_warm_node_follows_later_publishes_before_any_stream() -> None:
    async def scenario() -> None:
        source = CountingSource()
        cache = cache_of(source, retain=10)
        proxy = source.publish(node("a"), "a")
        await cache.refresh(proxy)
        source.publish(node("a"), "b")
        await cache.refresh(proxy)
        view = await cache.watch(proxy, nop)
        assert sorted(view.types[XdsType.CLUSTERS].resources) == ["cds_b_1", "cds_b_2"]

    asyncio.run(scenario())


def test_a_node_stays_prepared_after_its_last_stream_closes() -> None:
    async def scenario() -> None:
        source = CountingSource()
        cache = cache_of(source, retain=10)
        proxy = source.publish(node("a"), "a")
        await cache.watch(proxy, nop)
        cache.unwatch(proxy, nop)
        first = await cache.watch(proxy, nop)
        assert source.calls["fetch"] == 1
        cache.unwatch(proxy, nop)
        assert await cache.watch(proxy, nop) is first  # the prepared view itself was kept

    asyncio.run(scenario())


def test_idle_nodes_are_bounded_by_the_lru_and_streamed_nodes_are_never_evicted() -> None:
    async def scenario() -> None:
        source = CountingSource()
        cache = cache_of(source, retain=2)
        streamed = source.publish(node("streamed"), "s")
        await cache.watch(streamed, nop)
        idle = [source.publish(node(n), n) for n in ("a", "b", "c")]
        await stream_once(cache, idle)
        assert cache.idle_paths == [node("b"), node("c")]
        assert cache.node_paths == sorted([node("b"), node("c"), node("streamed")])
        fetched = source.calls["fetch"]
        await cache.watch(idle[1], nop)  # b: kept
        assert source.calls["fetch"] == fetched
        await cache.watch(idle[0], nop)  # a: evicted, loaded again
        assert source.calls["fetch"] == fetched + 1

    asyncio.run(scenario())


def test_with_retain_zero_a_node_is_dropped_with_its_last_stream_and_events_load_nothing() -> None:
    async def scenario() -> None:
        source = CountingSource()
        cache = cache_of(source, retain=0)
        proxy = source.publish(node("a"), "a")
        await cache.refresh(proxy)
        assert source.calls["fetch"] == 0
        await cache.watch(proxy, nop)
        cache.unwatch(proxy, nop)
        assert cache.node_paths == []

    asyncio.run(scenario())


def test_preload_keeps_the_most_recent_nodes_within_the_bound_and_skips_unpublished_ones() -> None:
    async def scenario() -> None:
        source = CountingSource()
        cache = cache_of(source, retain=2)
        proxies = [source.publish(node(n), n) for n in ("old", "mid", "new")]
        assert await cache.preload([ProxyId.parse(node("gone")), *proxies]) == 2
        assert cache.idle_paths == [node("mid"), node("new")]
        with pytest.raises(UnknownNode):
            await cache.watch(ProxyId.parse(node("gone")), nop)

    asyncio.run(scenario())


def test_pointer_keys_map_back_to_their_proxies() -> None:
    gateway = ProxyId("m", Kind.VIRTUAL_GATEWAY, "gw")
    assert proxy_of_pointer_key("pointers/m/virtualGateway/gw.json") == gateway
    assert proxy_of_pointer_key("pointers/m/virtualNode/a.json") == ProxyId.parse(node("a"))
    assert proxy_of_pointer_key("pointers/m/virtualRouter/r.json") is None
    assert proxy_of_pointer_key("pointers/m/a.json") is None
    assert proxy_of_pointer_key("snapshots/m/virtualNode/a/v.json") is None


def first_clusters(ads: ThreadedAds, node_id: str) -> list[str]:
    stream = RawStream(ads.address)
    try:
        stream.send(sotw(CDS, node_id))
        return names(stream.recv(timeout=10))
    finally:
        stream.close()


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_a_node_published_before_its_first_envoy_connects_is_served_without_an_s3_get(
    counting_ads: Callable[..., CountingAds], publisher: Publisher
) -> None:
    ads = counting_ads(preload=False)
    node_id = node("early")
    publisher.publish(snapshot(node_id, "early"))
    wait_for(lambda: node_id in ads.idle_paths())  # the ConfigPublished event warmed it
    before = ads.s3_calls.copy()
    assert first_clusters(ads, node_id) == ["cds_early_1", "cds_early_2"]
    assert ads.s3_calls == before


def test_at_startup_the_server_preloads_the_most_recently_published_nodes(
    counting_ads: Callable[..., CountingAds], publisher: Publisher
) -> None:
    older, newer = node("older"), node("newer")
    publisher.publish(snapshot(older, "older"), notify=False)
    time.sleep(1.1)  # S3 LastModified has one-second resolution
    publisher.publish(snapshot(newer, "newer"), notify=False)
    ads = counting_ads(retain_nodes=1)
    ads.wait_preloaded()
    assert ads.idle_paths() == [newer]
    assert ads.s3_calls["ListObjectsV2"] >= 1
    before = ads.s3_calls.copy()
    assert first_clusters(ads, newer) == ["cds_newer_1", "cds_newer_2"]
    assert ads.s3_calls == before
    assert first_clusters(ads, older) == ["cds_older_1", "cds_older_2"]  # beyond the bound: loaded on connect
    assert ads.s3_calls["GetObject"] == before["GetObject"] + 2
