"""Per-node snapshot cache with watches, owned by the server's event loop.

A node's snapshot is loaded from the source once and shared by all of that node's
streams.  The cache is kept warm so that the first Envoy of a node is served from
memory: a ConfigPublished loads and prepares the node's snapshot even before any
stream asks (`refresh`), startup preloads the latest pointers (`preload`), and a
node whose last stream closed stays prepared.  Nodes without streams are bounded by
an LRU of `retain` entries; nodes with streams are never evicted.
Each bind address (node metadata `BIND_ADDRESS`) gets its own prepared view.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from meshplane.delivery.metrics import Metrics
from meshplane.delivery.prepared import PreparedSnapshot
from meshplane.delivery.source import Pointer, SnapshotSource
from meshplane.model.ids import ProxyId
from meshplane.snapshot.localize import bind_to
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.types import XdsType

log = logging.getLogger(__name__)

Watcher = Callable[[list[XdsType]], None]
T = TypeVar("T")
RunBlocking = Callable[..., Awaitable[Any]]


class UnknownNode(LookupError):
    """No snapshot has been published for this proxy."""


@dataclass
class _Node:
    snapshot: Snapshot
    pointer: Pointer
    views: dict[str | None, PreparedSnapshot] = field(default_factory=dict)
    watchers: dict[str | None, set[Watcher]] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def view(self, bind: str | None) -> PreparedSnapshot:
        view = self.views.get(bind)
        if view is None:
            localized = self.snapshot if bind is None else bind_to(self.snapshot, bind)
            view = self.views[bind] = PreparedSnapshot.of(localized)
        return view


class SnapshotCache:
    """Snapshots of the nodes that have streams, with change notification."""

    def __init__(
        self,
        source: SnapshotSource,
        metrics: Metrics,
        run_blocking: RunBlocking = asyncio.to_thread,
        retain: int = 1000,
    ) -> None:
        self._source = source
        self._metrics = metrics
        self._run = run_blocking  # boto3 calls leave the event loop
        self._retain = max(0, retain)
        self._nodes: dict[str, _Node] = {}  # nodes with at least one stream
        self._idle: OrderedDict[str, _Node] = OrderedDict()  # prepared, no stream; least recently used first
        self._loading: dict[str, asyncio.Future[_Node]] = {}

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
        return node

    def _keep_idle(self, path: str, node: _Node) -> None:
        if self._retain == 0:
            return
        self._idle[path] = node
        self._idle.move_to_end(path)
        while len(self._idle) > self._retain:
            evicted, _ = self._idle.popitem(last=False)
            log.debug("evicted idle node %s", evicted)

    def _held(self, path: str) -> _Node | None:
        return self._nodes.get(path) or self._idle.get(path)

    async def _node(self, proxy: ProxyId, bind: str | None) -> _Node:
        node = self._nodes.get(proxy.path)
        if node is not None:
            return node
        node = self._idle.pop(proxy.path, None)
        if node is not None:  # served from memory: its first Envoy pays no load
            self._nodes[proxy.path] = node
            return node
        pending = self._loading.get(proxy.path)
        if pending is None:  # first stream of this node: load once, others await the same future
            pending = self._loading[proxy.path] = asyncio.ensure_future(self._load(proxy, bind))
            pending.add_done_callback(lambda _f: self._loading.pop(proxy.path, None))
        node = await asyncio.shield(pending)
        return self._nodes.setdefault(proxy.path, node)

    async def watch(self, proxy: ProxyId, bind: str | None, watcher: Watcher) -> PreparedSnapshot:
        """Register `watcher` for changes of this node's view and return the current view."""
        node = await self._node(proxy, bind)
        node.watchers.setdefault(bind, set()).add(watcher)
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
        if not node.watchers:
            del self._nodes[proxy.path]
            self._keep_idle(proxy.path, node)

    def view(self, proxy: ProxyId, bind: str | None) -> PreparedSnapshot:
        return self._nodes[proxy.path].view(bind)

    async def refresh(self, proxy: ProxyId) -> list[XdsType]:
        """Re-read the node's pointer and push what changed; returns the changed types.

        A node not in memory is loaded and kept idle (warm), so its first Envoy is
        served without touching the source.
        """
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
            return self._renew_views(node)

    async def warm(self, proxy: ProxyId, pointer: Pointer | None = None) -> bool:
        """Load and prepare a node that has no stream here; False if it has no pointer or retain is 0."""
        if self._retain == 0 or self._held(proxy.path) is not None or proxy.path in self._loading:
            return False
        if pointer is None:
            pointer = await self._run(self._source.pointer, proxy)
            if pointer is None:
                return False
        node = await self._load_at(pointer)
        if self._held(proxy.path) is None and proxy.path not in self._loading:  # a stream may have loaded it meanwhile
            self._keep_idle(proxy.path, node)
        return True

    async def preload(self, proxies: list[ProxyId]) -> int:
        """Warm the given nodes, oldest first so the newest survive the LRU; returns how many were loaded."""
        loaded = 0
        for proxy in proxies[-self._retain :] if self._retain else []:
            try:
                loaded += await self.warm(proxy)
            except Exception:  # one unreadable snapshot must not stop the others or the server
                log.exception("preloading %s failed", proxy.path)
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
