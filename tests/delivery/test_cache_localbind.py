"""Bind addresses are a local run's concern: only a server on loopback reads or serves them.

The cache holds each node's snapshot once, as published; a stream of a local run
rebinds its own views (`server.localbind`).  A production server, listening on every
interface, gives its streams no transform: node metadata `BIND_ADDRESS` is neither read
nor served there.  Streams are driven in process against the cache, so no listener on a
non-loopback address is opened.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from envoy.config.listener.v3.listener_pb2 import Listener
from envoy.service.discovery.v3.discovery_pb2 import DiscoveryRequest, DiscoveryResponse
from meshplane.delivery.cache import SnapshotCache
from meshplane.delivery.metrics import Metrics
from meshplane.delivery.server import localbind
from meshplane.delivery.server.identity import StreamError
from meshplane.delivery.server.sotw import SotwProtocol
from meshplane.delivery.server.stream import Stream, StreamTransform
from meshplane.snapshot.types import XdsType

from .test_warm_cache import CountingSource, inline, node, nop

LDS = XdsType.LISTENERS.type_url


@pytest.mark.parametrize(("host", "local"), [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("10.0.3.7", False), ("ads.internal", False),
])  # fmt: skip
def test_only_a_server_listening_on_loopback_rebinds_its_streams(host: str, local: bool) -> None:
    assert (localbind.for_host(host) is not None) is local


async def _listener_addresses(cache: SnapshotCache, transform: StreamTransform | None, bind: str) -> set[str]:
    """Open one SotW stream asking for listeners with `bind` in its node; the addresses it is answered with."""
    request = DiscoveryRequest(type_url=LDS)
    request.node.id = node("a")
    request.node.metadata.update({localbind.BIND_ADDRESS_KEY: bind})
    answered = asyncio.Event()

    async def requests() -> AsyncIterator[DiscoveryRequest]:
        yield request
        await answered.wait()

    stream = Stream(cache, Metrics(), transform=transform)
    async for body in stream.run(requests(), SotwProtocol, lambda _identity: None):
        response = DiscoveryResponse.FromString(body)
        answered.set()
        stream.close()
    listeners = [Listener.FromString(packed.value) for packed in response.resources]
    return {li.address.socket_address.address for li in listeners}


def _cache() -> tuple[SnapshotCache, CountingSource]:
    source = CountingSource()
    source.publish(node("a"), "a")
    return SnapshotCache(source, Metrics(), run_blocking=inline, retain=10), source  # type: ignore[arg-type]


@pytest.mark.parametrize("bind", ["127.0.0.9", "not-an-ip"])
def test_a_production_stream_serves_the_snapshot_as_published_whatever_bind_address_its_node_names(bind: str) -> None:
    cache, _source = _cache()
    assert asyncio.run(_listener_addresses(cache, localbind.for_host("0.0.0.0"), bind)) == {"0.0.0.0"}


def test_a_local_stream_gets_its_own_address_while_the_cache_keeps_the_snapshot_as_published() -> None:
    async def scenario() -> None:
        cache, source = _cache()
        assert await _listener_addresses(cache, localbind.for_host("127.0.0.1"), "127.0.0.9") == {"127.0.0.9"}
        assert await _listener_addresses(cache, localbind.for_host("127.0.0.1"), "127.0.0.10") == {"127.0.0.10"}
        proxy = source.publish(node("a"), "a")
        view = await cache.watch(proxy, nop)
        cached = {m.address.socket_address.address for m in view.snapshot.of(XdsType.LISTENERS).values()}  # type: ignore[attr-defined]
        assert cached == {"0.0.0.0"} and cache.node_paths == [node("a")] and source.calls["fetch"] == 1

    asyncio.run(scenario())


def test_a_local_stream_refuses_a_bind_address_that_is_not_an_ip() -> None:
    cache, _source = _cache()
    with pytest.raises(StreamError) as refused:
        asyncio.run(_listener_addresses(cache, localbind.for_host("127.0.0.1"), "not-an-ip"))
    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT and "BIND_ADDRESS" in refused.value.message


def test_a_stream_rebinds_each_cached_view_once() -> None:
    async def scenario() -> None:
        cache, source = _cache()
        proxy = source.publish(node("a"), "a")
        bound = localbind.Bound("127.0.0.9")
        first = await cache.watch(proxy, nop)
        assert bound(first) is bound(first)
        source.publish(node("a"), "b")
        await cache.refresh(proxy)
        second = cache.view(proxy)
        assert bound(second) is not bound(first) and bound(first) is bound(first), "current and previous are kept"
        assert set(bound(second).types[XdsType.LISTENERS].packed) == {"lds_b_15000", "lds_b_15001"}

    asyncio.run(scenario())
