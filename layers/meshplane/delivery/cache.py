"""Per-node snapshot cache with watches, owned by the server's event loop.

A node's snapshot is loaded from the source once, when its first stream arrives,
and shared by all of that node's streams.  It is dropped when its last stream
closes, so a ConfigPublished for a node with no stream here costs nothing.
Each bind address (node metadata `BIND_ADDRESS`) gets its own prepared view.
"""

from __future__ import annotations

import asyncio
import logging
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

    def __init__(self, source: SnapshotSource, metrics: Metrics, run_blocking: RunBlocking = asyncio.to_thread) -> None:
        self._source = source
        self._metrics = metrics
        self._run = run_blocking  # boto3 calls leave the event loop
        self._nodes: dict[str, _Node] = {}
        self._loading: dict[str, asyncio.Future[_Node]] = {}

    @property
    def node_paths(self) -> list[str]:
        return sorted(self._nodes)

    async def _load(self, proxy: ProxyId) -> _Node:
        pointer = await self._run(self._source.pointer, proxy)
        if pointer is None:
            raise UnknownNode(f"no configuration has been published for {proxy.path}")
        snapshot = await self._run(self._source.fetch, pointer)
        self._metrics.snapshot_loads += 1
        return _Node(snapshot, pointer)

    async def _node(self, proxy: ProxyId) -> _Node:
        node = self._nodes.get(proxy.path)
        if node is not None:
            return node
        pending = self._loading.get(proxy.path)
        if pending is None:  # first stream of this node: load once, others await the same future
            pending = self._loading[proxy.path] = asyncio.ensure_future(self._load(proxy))
            pending.add_done_callback(lambda _f: self._loading.pop(proxy.path, None))
        node = await asyncio.shield(pending)
        return self._nodes.setdefault(proxy.path, node)

    async def watch(self, proxy: ProxyId, bind: str | None, watcher: Watcher) -> PreparedSnapshot:
        """Register `watcher` for changes of this node's view and return the current view."""
        node = await self._node(proxy)
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
            node.views.pop(bind, None)
        if not node.watchers:
            del self._nodes[proxy.path]

    def view(self, proxy: ProxyId, bind: str | None) -> PreparedSnapshot:
        return self._nodes[proxy.path].view(bind)

    async def refresh(self, proxy: ProxyId) -> list[XdsType]:
        """Re-read the node's pointer and push what changed; returns the changed types."""
        node = self._nodes.get(proxy.path)
        if node is None:
            return []
        async with node.lock:
            pointer = await self._run(self._source.pointer, proxy)
            if pointer is None or pointer.version == node.pointer.version:
                return []
            snapshot = await self._run(self._source.fetch, pointer)
            self._metrics.snapshot_loads += 1
            if self._nodes.get(proxy.path) is not node:
                return []  # every stream left while we were loading
            node.snapshot, node.pointer = snapshot, pointer
            return self._renew_views(node)

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
