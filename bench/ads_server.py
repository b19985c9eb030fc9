"""meshplane's real ADS server (`meshplane.delivery.service.AdsService`) over an in-memory source.

Run as its own process so its CPU and memory are its own:
    python bench/ads_server.py fat N          one proxy `client` with N egress clusters
    python bench/ads_server.py fanout NODES   NODES proxies that all call one hot service
An optional third argument sets the cache: `preload` (warm every published node at
startup, before `ready`, as `meshplane ads` does from S3), `cold` (`--cache-nodes 0`:
a node is loaded when its first stream arrives and dropped with its last), or nothing
(the default LRU, no preload).

It prints `ready <port> <rss-bytes>` and then obeys stdin lines:
    rss        -> `rss <bytes>`
    push       -> swaps in the next generation of the hot node's endpoints, asks the cache to
                  refresh every proxy (what a ConfigPublished event does) and prints
                  `pushed <monotonic-seconds-at-start>`
The source keeps snapshots as `Snapshot.to_bytes()` (what the pipeline stores in S3) and hands out those bytes
as the bucket does (`fetch_stored`), so every load pays the same read an S3 fetch would (minus the network).
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import meshgen
from common import rss_bytes
from meshplane.delivery.service import AdsOptions, AdsService
from meshplane.model.ids import Kind, ProxyId
from meshplane.model.state import MeshState
from meshplane.publication.pointer import Pointer
from meshplane.snapshot.snapshot import Snapshot
from meshplane.translate import translate

HOT = meshgen.node_name(0)


class MemorySource:
    """A SnapshotSource holding serialised snapshots, as S3 would."""

    def __init__(self) -> None:
        self.blobs: dict[str, tuple[str, bytes]] = {}

    def put(self, snapshot: Snapshot) -> None:
        self.blobs[snapshot.node_id] = (snapshot.version, snapshot.to_bytes())

    def pointer(self, proxy: ProxyId) -> Pointer | None:
        entry = self.blobs.get(proxy.path)
        return None if entry is None else Pointer(entry[0], proxy.path)

    def fetch(self, pointer: Pointer) -> Snapshot:
        return Snapshot.loads(self.fetch_stored(pointer))

    def fetch_stored(self, pointer: Pointer) -> bytes:
        return self.blobs[pointer.key][1]

    def recent_proxies(self, limit: int) -> list[ProxyId]:
        return [ProxyId.parse(path) for path in list(self.blobs)[-limit:]]


def fanout_mesh(nodes: int) -> MeshState:
    """`nodes` proxies (node-00001..) each with the hot service among their backends."""
    state = meshgen.build_mesh(meshgen.MeshShape(nodes + 1, backends=4, router_every=0))
    hot_service = meshgen.service_name(0, state.name)
    patched = {}
    for name, node in state.virtual_nodes.items():
        backends = [b.virtual_service.virtual_service_name for b in node.spec.backends or []]
        if name != HOT and hot_service not in backends:
            backends = [hot_service, *backends[:4]]
        patched[name] = meshgen.virtual_node(state.name, name, backends)
    return MeshState(mesh=state.mesh, virtual_nodes=patched, virtual_services=state.virtual_services,
                     endpoints=state.endpoints)


def proxies_of(mode: str, state: MeshState) -> list[ProxyId]:
    if mode == "fat":
        return [ProxyId(state.name, Kind.VIRTUAL_NODE, "client")]
    return [ProxyId(state.name, Kind.VIRTUAL_NODE, n) for n in state.virtual_nodes if n != HOT]


async def serve(mode: str, size: int, cache: str = "") -> None:
    state = meshgen.fat_proxy_mesh(size)[0] if mode == "fat" else fanout_mesh(size)
    proxies = proxies_of(mode, state)
    source = MemorySource()
    for proxy in proxies:
        source.put(translate(state, proxy))
    options = AdsOptions(host="127.0.0.1", port=0, resync_seconds=3600, grace_seconds=0.5,
                         retain_nodes=0 if cache == "cold" else 1000, preload=cache == "preload")
    service = AdsService(source, options)
    port = await service.start()
    if service.preloaded is not None:
        await service.preloaded
    # The mesh model is this bench's own (a real server holds none): out of the collector's way, as it would be.
    gc.collect()
    gc.freeze()
    print(f"ready {port} {rss_bytes_self()}", flush=True)
    generation = 0
    while True:
        line = (await asyncio.to_thread(sys.stdin.readline)).strip()
        if line in ("", "quit"):
            break
        if line == "rss":
            print(f"rss {rss_bytes_self()}", flush=True)
        elif line == "push":
            generation += 1
            fresh = meshgen.endpoints_for(0, len(state.endpoints[HOT]), generation)
            state = meshgen.with_endpoints(state, HOT, fresh)
            for proxy in proxies:  # the pipeline's work, done before the ConfigPublished events
                source.put(translate(state, proxy))
            started = time.monotonic()
            await asyncio.gather(*(service.cache.refresh(p) for p in proxies))
            print(f"pushed {started}", flush=True)
    await service.stop()


def rss_bytes_self() -> int:
    import os

    return rss_bytes(os.getpid())


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], int(sys.argv[2]), *sys.argv[3:4]))
