"""The cache's parts on their own: the node store's bounds and the loader's single flight."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from meshplane.delivery.loader import Loader, Unknown, UnknownNode
from meshplane.delivery.metrics import Metrics
from meshplane.delivery.nodes import NodeStore
from meshplane.model.ids import ProxyId

from .test_warm_cache import CountingSource, node


def test_the_store_keeps_streamed_nodes_whatever_their_size_and_bounds_idle_ones_by_count_and_bytes() -> None:
    metrics = Metrics()
    store: NodeStore[str] = NodeStore(metrics, len, retain=3, retain_bytes=10)
    assert store.hold("big", "x" * 50) == "x" * 50 and store.hold("big", "other") == "x" * 50
    assert (metrics.cache_streamed_nodes, metrics.cache_streamed_bytes) == (1, 50)
    store.release("big")  # 50 bytes idle: over the byte bound on its own
    assert store.paths == [] and metrics.cache_evictions == 1
    for path, body in (("a", "aaaa"), ("b", "bbbb")):
        store.hold(path, body)
        store.release(path)
    assert store.idle_paths == ["a", "b"] and store.idle_bytes == 8
    assert store.keep_idle("c", "cccc")  # 12 bytes: the least recently used goes
    assert store.idle_paths == ["b", "c"] and store.idle_bytes == 8 and metrics.cache_evictions == 2
    assert store.take("b") == "bbbb" and store.idle_paths == ["c"] and store.streamed("b") == "bbbb"
    assert (metrics.cache_idle_nodes, metrics.cache_idle_bytes) == (1, 4)
    assert (metrics.cache_streamed_nodes, metrics.cache_streamed_bytes) == (1, 4)
    assert store.paths == ["b", "c"]


def test_the_store_measures_a_changed_node_again() -> None:
    sizes = {"n": 4}
    store: NodeStore[str] = NodeStore(Metrics(), sizes.__getitem__, retain=3, retain_bytes=10)
    store.keep_idle("n", "n")
    sizes["n"] = 11
    store.remeasure("n")
    assert store.idle_paths == [] and store.idle_bytes == 0, "an idle node that outgrew the bound goes"


def test_a_store_with_a_zero_bound_keeps_no_idle_node() -> None:
    store: NodeStore[str] = NodeStore(Metrics(), len, retain=10, retain_bytes=0)
    store.hold("a", "a")
    store.release("a")
    assert not store.keeps_idle and store.paths == []


class _Gate:
    """Runs blocking calls once released, counting them: concurrent loads meet while the first is held."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.trips = 0

    async def __call__(self, fn: Any, *args: Any) -> Any:
        self.trips += 1
        await self.release.wait()
        return fn(*args)


def test_streams_of_a_node_arriving_together_share_one_load() -> None:
    async def scenario() -> None:
        source, gate = CountingSource(), _Gate()
        proxy = source.publish(node("a"), "a")
        loader = Loader(source, Metrics(), lambda snapshot, _pointer: snapshot, gate)  # type: ignore[arg-type]
        waiting = [asyncio.ensure_future(loader.load(proxy)) for _ in range(5)]
        await asyncio.sleep(0)
        assert loader.loading(proxy.path)
        gate.release.set()
        loaded = await asyncio.gather(*waiting)
        assert all(s is loaded[0] for s in loaded) and (gate.trips, source.calls["fetch"]) == (1, 1)
        assert not loader.loading(proxy.path)

    asyncio.run(scenario())


def test_a_node_found_unpublished_is_not_read_again_until_something_is_published_for_it() -> None:
    async def scenario() -> None:
        source, gate = CountingSource(), _Gate()
        gate.release.set()
        loader = Loader(source, Metrics(), lambda snapshot, _pointer: snapshot, gate, Unknown(ttl=60))  # type: ignore[arg-type]
        proxy = ProxyId.parse(node("later"))
        for _ in range(3):
            with pytest.raises(UnknownNode):
                await loader.load(proxy)
        assert source.calls["pointer"] == 1
        source.publish(node("later"), "a")
        loader.forget_unknown(proxy.path)
        assert (await loader.load(proxy)).node_id == proxy.path
        assert source.calls["pointer"] == 2

    asyncio.run(scenario())
