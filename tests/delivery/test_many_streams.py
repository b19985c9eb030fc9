"""Hundreds of streams over several HTTP/2 connections: every one gets the push, and SIGTERM still
ends the real `meshplane ads` process within its grace period."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from envoy.service.discovery.v3.discovery_pb2 import DiscoveryRequest, DiscoveryResponse
from meshplane.snapshot.types import XdsType

from .harness import Publisher
from .snapshots import snapshot
from .test_ads_restart import AdsProcess, ads_process

__all__ = ["ads_process"]
SOTW = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"
EDS = XdsType.ENDPOINTS.type_url
STREAMS, CHANNELS, NODES = 300, 6, 10  # 50 streams per connection, like the bench
# CPU-heavy for a few seconds: never beside the restart test, whose traffic must not miss a beat
pytestmark = pytest.mark.xdist_group("ads-process")
# The production default: the drain gets the grace less a 1 s reserve, and 300 streams on a busy
# 2-core runner need more than the 1 s a 2 s grace would leave them.
GRACE_S = 5.0


class EdsWatcher:
    """One Envoy-like SotW stream for EDS: ACKs every response, remembers the versions it saw."""

    def __init__(self, channel: grpc.aio.Channel, node: str) -> None:
        self._node = node
        self._channel = channel
        self._outbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.versions: list[str] = []
        self.first = asyncio.Event()
        self.pushed = asyncio.Event()
        self.status: grpc.StatusCode | None = None

    async def _requests(self) -> AsyncIterator[bytes]:
        while (item := await self._outbox.get()) is not None:
            yield item

    def _send(self, version: str = "", nonce: str = "") -> None:
        request = DiscoveryRequest(type_url=EDS, resource_names=["cds_a_1"], version_info=version, response_nonce=nonce)
        if not nonce:
            request.node.id = self._node
        self._outbox.put_nowait(request.SerializeToString())

    async def run(self) -> None:
        self._send()
        call = self._channel.stream_stream(SOTW)(self._requests())
        try:
            async for raw in call:
                response = DiscoveryResponse.FromString(raw)
                self._send(response.version_info, response.nonce)
                self.versions.append(response.version_info)
                (self.pushed if self.first.is_set() else self.first).set()
            self.status = grpc.StatusCode.OK
        except grpc.aio.AioRpcError as error:
            self.status = error.code()


async def _wait_all(events: list[asyncio.Event], timeout: float, what: str) -> None:
    try:
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), timeout)
    except TimeoutError:
        raise AssertionError(f"{sum(not e.is_set() for e in events)} of {len(events)} streams: no {what}") from None


@pytest.mark.timeout(120)
def test_hundreds_of_streams_on_several_connections_all_get_the_push_and_sigterm_ends_the_server_promptly(
    ads_process: AdsProcess, publisher: Publisher
) -> None:
    mesh = f"m{uuid.uuid4().hex[:8]}"
    nodes = [f"mesh/{mesh}/virtualNode/n{i}" for i in range(NODES)]
    for node in nodes:
        publisher.publish(snapshot(node, "a"), notify=False)
    ads_process.start(grace_seconds=GRACE_S)
    assert ads_process.process is not None

    async def scenario() -> float:
        address = f"127.0.0.1:{ads_process.port}"
        channels = [grpc.aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
                    for _ in range(CHANNELS)]  # fmt: skip
        watchers = [EdsWatcher(channels[i % CHANNELS], nodes[i % NODES]) for i in range(STREAMS)]
        tasks = [asyncio.ensure_future(w.run()) for w in watchers]
        try:
            await _wait_all([w.first for w in watchers], 60, "first EDS response")
            for node in nodes:
                await asyncio.to_thread(publisher.publish, snapshot(node, "a", endpoints=("10.0.0.9",)))
            await _wait_all([w.pushed for w in watchers], 30, "pushed EDS update")
            assert all(len(set(w.versions)) == 2 for w in watchers)

            signalled = time.monotonic()
            ads_process.signal(signal.SIGTERM)
            code = await asyncio.to_thread(ads_process.process.wait, 30)  # type: ignore[union-attr]
            exited_after = time.monotonic() - signalled
            assert code == 0
            await asyncio.wait_for(asyncio.gather(*tasks), 10)
            statuses = {w.status for w in watchers}
            assert statuses == {grpc.StatusCode.OK}, f"streams end cleanly, not by reset: {ads_process.log_tail()}"
            return exited_after
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for channel in channels:
                await channel.close()

    exited_after = asyncio.run(scenario())
    assert exited_after < GRACE_S + 1.0, f"exit took {exited_after:.2f}s with {STREAMS} open streams"
