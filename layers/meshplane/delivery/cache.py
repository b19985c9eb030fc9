"""Per-node snapshot cache with watches, owned by the server's event loop.

A node's snapshot is loaded from the source once and shared by all of that node's
streams.  The cache is kept warm so that the first Envoy of a node is served from
memory: a ConfigPublished loads and prepares the node's snapshot even before any
stream asks (`refresh`), startup preloads the latest pointers (`preload`), and a
node whose last stream closed stays prepared.  Nodes without streams are bounded by
an LRU of at most `retain` entries and `retain_bytes` estimated bytes (`held_bytes`),
so the task's memory can be sized; nodes with streams are never evicted.
Each bind address (node metadata `BIND_ADDRESS`) gets its own prepared view.

A node with nothing published is remembered as such (`Unknown`) for a few seconds, so
streams that keep asking for it cost no read of the source each; its ConfigPublished
event forgets it at once.  The entries are bounded in number and in age.
"""

from __future__ import annotations

import asyncio
import logging
import operator
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from meshplane.delivery.limits_defaults import UNKNOWN_MAX, UNKNOWN_TTL_S
from meshplane.delivery.metrics import Metrics
from meshplane.delivery.prepared import PreparedSnapshot
from meshplane.model.ids import ProxyId
from meshplane.publication.bucket import SnapshotSource
from meshplane.publication.pointer import Pointer
from meshplane.snapshot.localize import bind_to
from meshplane.snapshot.snapshot import PackedResources, Snapshot
from meshplane.snapshot.types import XdsType

log = logging.getLogger(__name__)

Watcher = Callable[[list[XdsType]], None]
T = TypeVar("T")
RunBlocking = Callable[..., Awaitable[Any]]


class UnknownNode(LookupError):
    """No snapshot has been published for this proxy."""


class Unknown:
    """Nodes whose pointer was just found missing: at most `limit` of them, each for `ttl` seconds."""

    def __init__(self, ttl: float = UNKNOWN_TTL_S, limit: int = UNKNOWN_MAX,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._limit = max(0, limit)
        self._clock = clock
        self._until: OrderedDict[str, float] = OrderedDict()  # path -> when it expires, oldest first

    def __contains__(self, path: object) -> bool:
        until = self._until.get(path) if isinstance(path, str) else None
        if until is None:
            return False
        if until > self._clock():
            return True
        self.forget(str(path))
        return False

    def add(self, path: str) -> None:
        if self._ttl <= 0 or self._limit == 0:
            return
        self._until.pop(path, None)
        self._until[path] = self._clock() + self._ttl
        while len(self._until) > self._limit:
            self._until.popitem(last=False)

    def forget(self, path: str) -> None:
        self._until.pop(path, None)

    def __len__(self) -> int:
        return len(self._until)


@dataclass
class _Node:
    snapshot: Snapshot
    pointer: Pointer
    views: dict[str | None, PreparedSnapshot] = field(default_factory=dict)
    watchers: dict[str | None, set[Watcher]] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    size: int = 0  # `held_bytes` when last measured: the cache's byte totals add these up
    _packed: tuple[tuple[object, ...], int] = (), 0  # (the snapshot and views it was summed for, the sum)

    def packed_size(self) -> int:
        """The packed resources' part of `held_bytes`, summed again only when the snapshot or views change."""
        key = (self.snapshot, *self.views.values())
        summed_for = self._packed[0]
        if len(summed_for) != len(key) or any(a is not b for a, b in zip(summed_for, key, strict=True)):
            self._packed = key, _packed_bytes(self)
        return self._packed[1]

    def view(self, bind: str | None) -> PreparedSnapshot:
        view = self.views.get(bind)
        if view is None:
            localized = self.snapshot if bind is None else bind_to(self.snapshot, bind)
            view = self.views[bind] = PreparedSnapshot.of(localized)
        return view


# What a held byte string costs beyond its length (object header, its name, a dict entry), what
# a resource prepared for Delta costs beyond its chunk (its object and version), and what a node
# costs whatever its size (snapshot, views, mappings); measured with tracemalloc on CPython 3.11.
BLOB_OVERHEAD = 128
DELTA_OVERHEAD = 192
NODE_OVERHEAD = 4096


def held_bytes(node: _Node) -> int:
    """A cheap, deterministic estimate of a node's memory, from the byte strings it holds, each once.

    Counts the packed `Any` of every resource (the snapshot's stored bytes, shared by its
    unbound view), the repacked resources of bind views, the SotW bodies cached joined and
    the Delta chunks built so far: the parts that grow with a proxy's config.  Fixed
    overheads per string, Delta resource and node keep many tiny resources from being
    underestimated (measured within ~15% of tracemalloc).  Not counted: messages unpacked
    for a bind rewrite (local runs only).  A sum of lengths, not a recursive
    `sys.getsizeof`, taken when a node is prepared, renewed or goes idle.  The packed part
    is summed once per snapshot and set of views (`_Node.packed_size`): a stream's close
    re-counts only what streams built, not thousands of resources.
    """
    total = NODE_OVERHEAD + node.packed_size()
    for view in node.views.values():
        for prepared in view.types.values():
            blobs, delta_resources = prepared.built_blobs()
            total += sum(map(len, blobs)) + len(blobs) * BLOB_OVERHEAD + delta_resources * DELTA_OVERHEAD
    return total


def _packed_bytes(node: _Node) -> int:
    """The packed resources, each string once: a view that serves the snapshot's stored bytes
    (every unbound view) adds nothing; a bind view adds only what its rewrite repacked."""
    stored: dict[XdsType, Mapping[str, bytes]] = {}
    total = 0
    for kind in XdsType:
        resources = node.snapshot.of(kind)
        if isinstance(resources, PackedResources):
            stored[kind] = resources.raw
            total += sum(map(len, resources.raw.values())) + len(resources.raw) * BLOB_OVERHEAD
    for view in node.views.values():
        for kind, prepared in view.types.items():
            raw = stored.get(kind, {})
            if len(prepared.packed) == len(raw) and all(map(operator.is_, prepared.packed.values(), raw.values())):
                continue  # the snapshot's own bytes, counted above
            own = [blob for name, blob in prepared.packed.items() if raw.get(name) is not blob]
            total += sum(map(len, own)) + len(own) * BLOB_OVERHEAD
    return total


class SnapshotCache:
    """Snapshots of the nodes that have streams, with change notification."""

    def __init__(
        self,
        source: SnapshotSource,
        metrics: Metrics,
        run_blocking: RunBlocking = asyncio.to_thread,
        retain: int = 1000,
        retain_bytes: int | None = None,
        unknown: Unknown | None = None,
    ) -> None:
        """`unknown` remembers nodes found unpublished (default: `UNKNOWN_TTL_S` seconds each)."""
        self._source = source
        self._unknown = Unknown() if unknown is None else unknown
        self._metrics = metrics
        self._run = run_blocking  # boto3 calls leave the event loop
        self._retain = max(0, retain)
        self._retain_bytes = None if retain_bytes is None else max(0, retain_bytes)  # None: no byte bound
        self._nodes: dict[str, _Node] = {}  # nodes with at least one stream
        self._idle: OrderedDict[str, _Node] = OrderedDict()  # prepared, no stream; least recently used first
        self._loading: dict[str, asyncio.Future[_Node]] = {}
        self._streamed_bytes = 0  # the sums of `_Node.size` over `_nodes` and `_idle`
        self._idle_bytes = 0

    @property
    def keeps_idle(self) -> bool:
        """False when either bound is 0: a node is dropped with its last stream and nothing is warmed."""
        return self._retain > 0 and self._retain_bytes != 0

    @property
    def idle_bytes(self) -> int:
        """The estimated bytes of the idle nodes (`held_bytes`), what `retain_bytes` bounds."""
        return self._idle_bytes

    def _idle_full(self) -> bool:
        over_bytes = self._retain_bytes is not None and self._idle_bytes >= self._retain_bytes
        return len(self._idle) >= self._retain or over_bytes

    @property
    def node_paths(self) -> list[str]:
        """Every node held in memory, streamed or idle."""
        return sorted({*self._nodes, *self._idle})

    @property
    def idle_paths(self) -> list[str]:
        """Nodes kept prepared without a stream, least recently used first."""
        return list(self._idle)

    async def _load(self, proxy: ProxyId, bind: str | None) -> _Node:
        """Pointer, fetch, parse and prepare in one trip off the event loop: a cold first stream waits once."""

        def load() -> _Node | None:
            pointer = self._source.pointer(proxy)
            return None if pointer is None else self._prepared(pointer, bind)

        node = await self._run(load)
        if node is None:
            self._unknown.add(proxy.path)
            raise UnknownNode(f"no configuration has been published for {proxy.path}")
        self._metrics.snapshot_loads += 1
        return node

    async def _load_at(self, pointer: Pointer, bind: str | None = None) -> _Node:
        """Fetch, parse and prepare off the event loop: the CPU work of a first stream, done ahead."""
        node = await self._run(self._prepared, pointer, bind)
        self._metrics.snapshot_loads += 1
        return node

    def _prepared(self, pointer: Pointer, bind: str | None) -> _Node:
        node = _Node(self._source.fetch(pointer), pointer)
        node.view(bind)
        node.size = held_bytes(node)
        return node

    def _keep_idle(self, path: str, node: _Node, *, oldest: bool = False) -> bool:
        """Keep a node without streams, as the most (or `oldest`: least) recently used; False if evicted at once."""
        if not self.keeps_idle:
            return False
        previous = self._idle.pop(path, None)
        if previous is not None:
            self._idle_bytes -= previous.size
        node.size = held_bytes(node)  # again: streams may have built response bodies since it was prepared
        self._idle[path] = node
        self._idle.move_to_end(path, last=not oldest)
        self._idle_bytes += node.size
        self._evict()
        return path in self._idle

    def _evict(self) -> None:
        """Drop least recently used idle nodes while either bound is exceeded."""
        limit = self._retain_bytes
        while self._idle and (len(self._idle) > self._retain or (limit is not None and self._idle_bytes > limit)):
            evicted, node = self._idle.popitem(last=False)
            self._idle_bytes -= node.size
            self._metrics.cache_evictions += 1
            log.debug("evicted idle node %s (%d bytes)", evicted, node.size)
        self._gauge()

    def _gauge(self) -> None:
        metrics = self._metrics
        metrics.cache_idle_nodes, metrics.cache_idle_bytes = len(self._idle), self._idle_bytes
        metrics.cache_streamed_nodes, metrics.cache_streamed_bytes = len(self._nodes), self._streamed_bytes

    def _stream(self, path: str, node: _Node) -> _Node:
        """Hold `node` as streamed: out of the idle LRU and its bounds."""
        held = self._nodes.setdefault(path, node)
        if held is node:
            self._streamed_bytes += node.size
            self._gauge()
        return held

    def _remeasure(self, path: str, node: _Node) -> None:
        """Re-estimate a held node whose views changed, keeping the totals exact; a grown idle node may go."""
        size = held_bytes(node)
        if self._nodes.get(path) is node:
            self._streamed_bytes += size - node.size
        elif self._idle.get(path) is node:
            self._idle_bytes += size - node.size
        node.size = size
        self._evict()

    def _held(self, path: str) -> _Node | None:
        return self._nodes.get(path) or self._idle.get(path)

    async def _node(self, proxy: ProxyId, bind: str | None) -> _Node:
        node = self._nodes.get(proxy.path)
        if node is not None:
            return node
        node = self._idle.pop(proxy.path, None)
        if node is not None:  # served from memory: its first Envoy pays no load
            self._idle_bytes -= node.size
            return self._stream(proxy.path, node)
        pending = self._loading.get(proxy.path)
        if pending is None and proxy.path in self._unknown:  # found unpublished moments ago: no read
            raise UnknownNode(f"no configuration has been published for {proxy.path}")
        if pending is None:  # first stream of this node: load once, others await the same future
            pending = self._loading[proxy.path] = asyncio.ensure_future(self._load(proxy, bind))
            pending.add_done_callback(lambda _f: self._loading.pop(proxy.path, None))
        node = await asyncio.shield(pending)
        return self._stream(proxy.path, node)

    async def watch(self, proxy: ProxyId, bind: str | None, watcher: Watcher) -> PreparedSnapshot:
        """Register `watcher` for changes of this node's view and return the current view."""
        node = await self._node(proxy, bind)
        node.watchers.setdefault(bind, set()).add(watcher)
        if bind not in node.views:  # another bind address of a served node: one more prepared view
            node.view(bind)
            self._remeasure(proxy.path, node)
        return node.view(bind)

    def unwatch(self, proxy: ProxyId, bind: str | None, watcher: Watcher) -> None:
        node = self._nodes.get(proxy.path)
        if node is None:
            return
        watchers = node.watchers.get(bind, set())
        watchers.discard(watcher)
        if not watchers:
            node.watchers.pop(bind, None)
            if node.watchers:  # the node stays served: drop only this bind's view; an idle node keeps its last
                node.views.pop(bind, None)
                self._remeasure(proxy.path, node)
        if not node.watchers:
            del self._nodes[proxy.path]
            self._streamed_bytes -= node.size
            if not self._keep_idle(proxy.path, node):
                self._gauge()

    def view(self, proxy: ProxyId, bind: str | None) -> PreparedSnapshot:
        return self._nodes[proxy.path].view(bind)

    async def previous(self, proxy: ProxyId, bind: str | None) -> PreparedSnapshot | None:
        """The node's previously published snapshot with other clusters, read on demand and not kept:
        only a SotW Envoy reconnecting across a change needs it, to drain what it still holds."""
        node = self._nodes.get(proxy.path)
        if node is None or not node.pointer.previous_key:
            return None
        try:
            snapshot = await self._run(self._source.fetch, Pointer(version="", key=node.pointer.previous_key))
        except Exception:  # expired by the lifecycle rule, or unreadable: the Envoy just gets the current one
            log.warning("previous snapshot %s of %s unreadable", node.pointer.previous_key, proxy.path, exc_info=True)
            return None
        self._metrics.snapshot_loads += 1
        return PreparedSnapshot.of(snapshot if bind is None else bind_to(snapshot, bind))

    async def refresh(self, proxy: ProxyId) -> list[XdsType]:
        """Re-read the node's pointer and push what changed; returns the changed types.

        A node not in memory is loaded and kept idle (warm), so its first Envoy is
        served without touching the source.  A node remembered as unpublished is forgotten.
        """
        self._unknown.forget(proxy.path)
        node = self._held(proxy.path)
        if node is None:
            await self.warm(proxy)
            return []
        async with node.lock:
            pointer = await self._run(self._source.pointer, proxy)
            if pointer is None or pointer.version == node.pointer.version:
                return []
            snapshot = await self._run(self._source.fetch, pointer)
            self._metrics.snapshot_loads += 1
            if self._held(proxy.path) is not node:
                return []  # evicted while we were loading
            node.snapshot, node.pointer = snapshot, pointer
            changed = self._renew_views(node)
            self._remeasure(proxy.path, node)
            return changed

    async def warm(self, proxy: ProxyId, pointer: Pointer | None = None) -> bool:
        """Load and prepare a node that has no stream here; False if it has no pointer or keeps no idle nodes."""
        return await self._warm(proxy, pointer) is not None

    async def _warm(self, proxy: ProxyId, pointer: Pointer | None = None, *, oldest: bool = False) -> bool | None:
        """None if nothing was loaded; else whether the loaded node is kept (False: it did not fit the bounds)."""
        if not self.keeps_idle or self._held(proxy.path) is not None or proxy.path in self._loading:
            return None
        if pointer is None:
            pointer = await self._run(self._source.pointer, proxy)
            if pointer is None:
                return None
        node = await self._load_at(pointer)
        if self._held(proxy.path) is None and proxy.path not in self._loading:  # a stream may have loaded it meanwhile
            return self._keep_idle(proxy.path, node, oldest=oldest)
        return True

    async def preload(self, proxies: list[ProxyId]) -> int:
        """Warm the given nodes (oldest first in the list) until a bound is reached; returns how many were loaded.

        The newest are loaded first, each placed behind the others in the LRU, so warming
        can stop as soon as the byte bound is reached instead of reading older snapshots
        only to evict them; at most the one snapshot that crossed the bound is read and dropped.
        """
        loaded = 0
        for proxy in reversed(proxies[-self._retain :] if self.keeps_idle else []):
            if self._idle_full():
                break
            try:
                kept = await self._warm(proxy, oldest=True)
            except Exception:  # one unreadable snapshot must not stop the others or the server
                log.exception("preloading %s failed", proxy.path)
                continue
            if kept is False:
                break
            loaded += kept is not None
        return loaded

    def _renew_views(self, node: _Node) -> list[XdsType]:
        changed_any: set[XdsType] = set()
        for bind in list(node.views):
            previous = node.views.pop(bind)
            changed = node.view(bind).changed_types(previous)
            changed_any.update(changed)
            if changed:
                for watcher in list(node.watchers.get(bind, ())):
                    watcher(changed)
        return [k for k in XdsType if k in changed_any]

    async def resync(self) -> None:
        """The slow safety net: re-read the pointer of every cached node."""
        for path in self.node_paths:
            try:
                await self.refresh(ProxyId.parse(path))
            except Exception:  # one bad pointer must not stop the others
                log.exception("resync of %s failed", path)
