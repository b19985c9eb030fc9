"""ADS fan-out: push latency to S connected streams and server memory per stream.

The real ADS server (bench/ads_server.py, own process) serves S/10 proxies that
all call one hot service; S simulated Envoys (10 per proxy, SotW, grpc.aio,
50 streams per HTTP/2 connection) subscribe to CDS and EDS and ACK.  Then one
endpoint change of the hot node is published for every proxy and we time, on
the shared monotonic clock, from the server starting the refresh to the last
stream holding the new EDS.  Memory: server RSS after all streams are up
minus RSS before the first, divided by S.
"""

from __future__ import annotations

import asyncio
import subprocess
import time

import xds_client
from common import Profile, Suite, ads_server, median, percentile, require
from targets import FANOUT_MB_PER_STREAM, FANOUT_PUSH_MS

STREAMS_PER_NODE = 10
STREAMS_PER_CHANNEL = 50


class Envoyish:
    """One simulated Envoy: CDS, then EDS for the EDS clusters, ACKing each; records EDS arrivals."""

    def __init__(self, channel: object, node_id: str) -> None:
        self.node_id = node_id
        self.channel = channel
        self.first_version: str | None = None
        self.updated_at = 0.0
        self.reconnects = 0
        self._eds_names: list[str] = []
        self.ready = asyncio.Event()
        self.updated = asyncio.Event()
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    async def _requests(self):
        while (item := await self._queue.get()) is not None:
            yield item

    def _send(self, type_url: str, names: list[str], version: str = "", nonce: str = "") -> None:
        node = {"id": self.node_id, "cluster": "bench"}
        request = xds_client.DiscoveryRequest(node=node, type_url=type_url, resource_names=names,
                                              version_info=version, response_nonce=nonce)
        self._queue.put_nowait(request.SerializeToString())

    async def run(self) -> None:
        """Stream until stopped; like Envoy, reconnect when the stream fails."""
        import grpc

        while True:
            try:
                await self._stream()
                return
            except grpc.aio.AioRpcError:
                self.reconnects += 1
                if self.reconnects > 5:
                    raise
                self._queue = asyncio.Queue()

    async def _stream(self) -> None:
        call = self.channel.stream_stream(xds_client.SOTW, request_serializer=None,  # type: ignore[attr-defined]
                                          response_deserializer=None)(self._requests())
        self._send(xds_client.CDS, [])
        async for raw in call:
            response = xds_client.DiscoveryResponse.FromString(raw)
            self._send(response.type_url, [] if response.type_url == xds_client.CDS else self._eds_names,
                       response.version_info, response.nonce)  # ACK
            if response.type_url == xds_client.CDS:
                clusters = [xds_client.Cluster.FromString(r.value) for r in response.resources]
                self._eds_names = sorted(c.name for c in clusters if c.type == xds_client.Cluster.EDS)
                self._send(xds_client.EDS, self._eds_names)
            elif response.type_url == xds_client.EDS:
                if self.first_version is None:
                    self.first_version = response.version_info
                    self.ready.set()
                elif response.version_info != self.first_version and not self.updated.is_set():
                    self.updated_at = time.monotonic()
                    self.updated.set()

    def stop(self) -> None:
        self._queue.put_nowait(None)


def _command(server: subprocess.Popen[str], line: str) -> list[str]:
    server.stdin.write(line + "\n")  # type: ignore[union-attr]
    server.stdin.flush()  # type: ignore[union-attr]
    return server.stdout.readline().split()  # type: ignore[union-attr]


async def _fan(port: int, server: subprocess.Popen[str], streams: int, settle: float) -> dict[str, float]:
    import grpc
    from meshplane.model.ids import Kind, ProxyId

    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=[*xds_client.CHANNEL_OPTIONS,
                                                                        ("grpc.use_local_subchannel_pool", 1)])
                for _ in range(max(1, streams // STREAMS_PER_CHANNEL))]
    nodes = max(1, streams // STREAMS_PER_NODE)
    envoys = [Envoyish(channels[i % len(channels)],
                       ProxyId("bench", Kind.VIRTUAL_NODE, f"node-{1 + i % nodes:05d}").path) for i in range(streams)]
    rss_before = int((await asyncio.to_thread(_command, server, "rss"))[1])
    tasks = [asyncio.ensure_future(e.run()) for e in envoys]
    connect_started = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*(e.ready.wait() for e in envoys)), timeout=300)
    connect_s = time.monotonic() - connect_started
    await asyncio.sleep(settle)  # let the last ACKs land before sampling memory
    rss_after = int((await asyncio.to_thread(_command, server, "rss"))[1])
    pushed = await asyncio.to_thread(_command, server, "push")
    started = float(pushed[1])
    await asyncio.wait_for(asyncio.gather(*(e.updated.wait() for e in envoys)), timeout=120)
    latencies = [e.updated_at - started for e in envoys]
    for e in envoys:
        e.stop()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for channel in channels:
        await channel.close()
    return {"streams": streams, "proxies": nodes, "all connected s": connect_s,
            "push to last stream s": max(latencies), "push p50 s": median(latencies),
            "push p99 s": percentile(latencies, 99), "MB per stream": (rss_after - rss_before) / streams / 1e6,
            "server RSS MB": rss_after / 1e6, "stream reconnects": sum(e.reconnects for e in envoys)}


def run(profile: Profile) -> Suite:
    require("meshplane.delivery.service", "AdsService")
    suite = Suite("fanout")
    rows = []
    for streams in profile.pick([1000, 2000], [1000], [20]):
        nodes = max(1, streams // STREAMS_PER_NODE)
        with ads_server("fanout", nodes) as (server, port):
            row = asyncio.run(_fan(port, server, streams, settle=profile.pick(0.5, 0.5, 0.1)))
            _command(server, "quit")
        rows.append(row)
        suite.add(f"{streams:,} streams: push to the last stream", row["push to last stream s"] * 1000, "ms",
                  target=FANOUT_PUSH_MS, note=f"p50 {row['push p50 s'] * 1000:.0f} ms, {nodes} proxies")
        suite.add(f"{streams:,} streams: server memory per stream", row["MB per stream"], "MB",
                  target=FANOUT_MB_PER_STREAM)
    suite.tables["fan-out (SotW, 10 streams per proxy, 50 per connection)"] = rows
    return suite
