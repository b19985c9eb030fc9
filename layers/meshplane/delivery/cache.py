"""The ADS server's per-node snapshot cache: one prepared view per node, watches, previous-version recall.

Split as go-control-plane splits its cache: `nodes.NodeStore` holds the nodes and bounds
those without a stream, `loader.Loader` reads them from the source (single flight,
unpublished nodes remembered briefly), `memory` estimates what each holds.  This module
keeps each node's view current, tells the node's streams what changed, and keeps the
cache warm: a ConfigPublished loads and prepares a node's snapshot even before any
stream asks, once the events pause (`published`, `idle`), startup preloads the latest
pointers (`preload`), and a node whose last stream closed stays prepared.

A view is the snapshot as published, shared by every stream of the node; what a stream
makes of it (local runs rebind it, `server.localbind`) is the stream's own business.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from meshplane.delivery.defaults import CACHE_NODES
from meshplane.delivery.idle import IdleWork
from meshplane.delivery.limits_defaults import IDLE_MOST_S, IDLE_QUIET_S
from meshplane.delivery.loader import Loader, RunBlocking, Unknown, UnknownNode
from meshplane.delivery.memory import held_bytes, packed_bytes
from meshplane.delivery.metrics import Metrics
from meshplane.delivery.nodes import NodeStore
from meshplane.delivery.prepared import PreparedSnapshot
from meshplane.model.ids import ProxyId
from meshplane.publication.bucket import SnapshotSource
from meshplane.publication.pointer import Pointer
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.types import XdsType

__all__ = ["SnapshotCache", "Unknown", "UnknownNode", "Watcher"]

log = logging.getLogger(__name__)

Watcher = Callable[[list[XdsType]], None]


@dataclass
class _Node:
    snapshot: Snapshot
    pointer: Pointer
    view: PreparedSnapshot
    packed: int  # `memory.packed_bytes(view)`, summed once per view
    watchers: set[Watcher] = field(default_factory=set)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    behind: int = 0  # events received for it and not yet read (`SnapshotCache.published`)

    @classmethod
    def prepared(cls, snapshot: Snapshot, pointer: Pointer) -> _Node:
        view = PreparedSnapshot.of(snapshot)
        return cls(snapshot, pointer, view, packed_bytes(view))

    def renew(self, snapshot: Snapshot, pointer: Pointer) -> list[XdsType]:
        """Take a newer snapshot; returns the types whose version changed."""
        previous = self.view
        self.snapshot, self.pointer, self.view = snapshot, pointer, PreparedSnapshot.of(snapshot)
        self.packed = packed_bytes(self.view)
        return self.view.changed_types(previous)

    def size(self) -> int:
        return held_bytes(self.view, self.packed)


class SnapshotCache:
    """Snapshots of the nodes served, with change notification."""

    def __init__(
        self,
        source: SnapshotSource,
        metrics: Metrics,
        run_blocking: RunBlocking = asyncio.to_thread,
        retain: int = CACHE_NODES,
        retain_bytes: int | None = None,
        unknown: Unknown | None = None,
        idle_quiet: float = IDLE_QUIET_S,
        idle_most: float = IDLE_MOST_S,
    ) -> None:
        """`retain` and `retain_bytes` bound the nodes without a stream (`NodeStore`); `unknown` remembers
        nodes found unpublished (default: `Unknown()`); `idle_quiet` and `idle_most` put off the refresh of
        nodes without a stream (`idle.IdleWork`)."""
        self._metrics = metrics
        self._nodes: NodeStore[_Node] = NodeStore(metrics, _Node.size, retain, retain_bytes)
        self._loader: Loader[_Node] = Loader(source, metrics, _Node.prepared, run_blocking, unknown)
        self._loading_behind: set[str] = set()  # nodes a stream was loading when an event for them came
        self._idle = IdleWork(lambda path, hint: self.refresh(ProxyId.parse(path), hint), idle_quiet, idle_most)

    @property
    def keeps_idle(self) -> bool:
        """False when either bound is 0: a node is dropped with its last stream and nothing is warmed."""
        return self._nodes.keeps_idle

    @property
    def idle_bytes(self) -> int:
        """The estimated bytes of the idle nodes (`memory.held_bytes`), what `retain_bytes` bounds."""
        return self._nodes.idle_bytes

    @property
    def node_paths(self) -> list[str]:
        """Every node held in memory, streamed or idle."""
        return self._nodes.paths

    @property
    def idle_paths(self) -> list[str]:
        """Nodes kept prepared without a stream, least recently used first."""
        return self._nodes.idle_paths

    async def watch(self, proxy: ProxyId, watcher: Watcher) -> PreparedSnapshot:
        """Register `watcher` for changes of this node and return its current view; raises UnknownNode.

        An idle node that events left behind is read again first, and so is a node loaded here when an event for
        it came while it loaded (`published`)."""
        path = proxy.path
        node = self._nodes.take(path)  # held (an idle node's first Envoy pays no load) or loaded once
        if node is None:
            try:
                loaded = await self._loader.load(proxy)
            except BaseException:
                self._loading_behind.discard(path)
                raise
            node = self._nodes.hold(path, loaded)
            if path in self._loading_behind:  # its pointer may have been read before that event's publish
                self._loading_behind.discard(path)
                node.behind += 1
        await self._caught_up(node, proxy)
        node.watchers.add(watcher)
        return node.view

    async def _caught_up(self, node: _Node, proxy: ProxyId) -> None:
        """Read a node held for a stream again while events left it behind; on failure it is released."""
        try:
            while node.behind:
                await self.refresh(proxy)
        except BaseException:
            if not node.watchers:
                self._nodes.release(proxy.path)
            raise

    def unwatch(self, proxy: ProxyId, watcher: Watcher) -> None:
        node = self._nodes.streamed(proxy.path)
        if node is None:
            return
        node.watchers.discard(watcher)
        if not node.watchers:
            self._nodes.release(proxy.path)

    def view(self, proxy: ProxyId) -> PreparedSnapshot:
        """The current view of a watched node."""
        node = self._nodes.streamed(proxy.path)
        if node is None:
            raise KeyError(proxy.path)
        return node.view

    async def previous(self, proxy: ProxyId) -> PreparedSnapshot | None:
        """The node's previously published snapshot with other clusters, read on demand and not kept:
        only a SotW Envoy reconnecting across a change needs it, to drain what it still holds."""
        node = self._nodes.streamed(proxy.path)
        if node is None or not node.pointer.previous_key:
            return None
        try:
            snapshot = await self._loader.fetch(Pointer("", node.pointer.previous_key))
        except Exception:  # expired by the lifecycle rule, or unreadable: the Envoy just gets the current one
            log.warning("previous snapshot %s of %s unreadable", node.pointer.previous_key, proxy.path, exc_info=True)
            return None
        return PreparedSnapshot.of(snapshot)

    async def published(self, proxy: ProxyId, hint: str = "") -> list[XdsType]:
        """A ConfigPublished for `proxy`: a node with a stream here is refreshed now (`refresh`); any other is
        marked behind and refreshed once the events pause (`idle`), so a burst of events is pushed to the
        Envoys connected first.  Returns the types that changed now."""
        self._loader.forget_unknown(proxy.path)
        node = self._nodes.get(proxy.path)
        if node is not None and node.watchers:
            return await self.refresh(proxy, hint)
        if node is None and self._loader.loading(proxy.path):  # a stream's load: read again once it is held
            self._loading_behind.add(proxy.path)
            return []
        if node is not None:
            node.behind += 1
        elif not self.keeps_idle:
            return []
        self._idle.name(proxy.path, hint)
        self._metrics.refreshes_put_off += 1
        return []

    async def caught_up(self) -> None:
        """Wait until the refreshes put off by `published` are done."""
        await self._idle.drained()

    def close(self) -> None:
        """Drop the refreshes still put off (the server is stopping)."""
        self._idle.close()

    async def refresh(self, proxy: ProxyId, hint: str = "") -> list[XdsType]:
        """Re-read the node's pointer and push what changed; returns the changed types.

        A node not in memory is loaded and kept idle (warm), so its first Envoy is
        served without touching the source.  A node remembered as unpublished is forgotten.
        `hint`, the snapshot key a ConfigPublished event named, is read at the same time as
        the pointer and used only if the pointer names it: the pointer stays the truth, so
        a stale or reordered event costs one read and changes nothing.
        """
        self._loader.forget_unknown(proxy.path)
        node = self._nodes.get(proxy.path)
        if node is None:
            await self.warm(proxy)
            return []
        async with node.lock:
            seen = node.behind  # the events this read covers: any that come while it runs are read again
            changed = await self._renew(node, proxy, hint)
            node.behind = max(0, node.behind - seen)
            return changed

    async def _renew(self, node: _Node, proxy: ProxyId, hint: str) -> list[XdsType]:
        ahead = self._read_ahead(hint) if hint and hint != node.pointer.key else None
        pointer = await self._loader.pointer(proxy)
        if pointer is None or pointer.version == node.pointer.version:
            await _settled(ahead)
            return []
        snapshot = await _settled(ahead) if ahead is not None and pointer.key == hint else None
        if snapshot is None:
            snapshot = await self._loader.fetch(pointer)
        if self._nodes.get(proxy.path) is not node:
            return []  # evicted while we were loading
        changed = node.renew(snapshot, pointer)
        if changed:
            for watcher in list(node.watchers):
                watcher(changed)
        self._nodes.remeasure(proxy.path)
        return changed

    def _read_ahead(self, key: str) -> asyncio.Future[Snapshot]:
        return asyncio.ensure_future(self._loader.fetch(Pointer("", key)))

    async def warm(self, proxy: ProxyId, pointer: Pointer | None = None) -> bool:
        """Load and prepare a node that has no stream here; False if it has no pointer or keeps no idle nodes."""
        return await self._warm(proxy, pointer) is not None

    async def _warm(self, proxy: ProxyId, pointer: Pointer | None = None, *, oldest: bool = False) -> bool | None:
        """None if nothing was loaded; else whether the loaded node is kept (False: it did not fit the bounds)."""
        path = proxy.path
        if not self.keeps_idle or self._nodes.get(path) is not None or self._loader.loading(path):
            return None
        if pointer is None:
            pointer = await self._loader.pointer(proxy)
            if pointer is None:
                return None
        node = await self._loader.load_at(pointer)
        if self._nodes.get(path) is None and not self._loader.loading(path):  # a stream may have loaded it meanwhile
            return self._nodes.keep_idle(path, node, oldest=oldest)
        return True

    async def preload(self, proxies: list[ProxyId]) -> int:
        """Warm the given nodes (oldest first in the list) until a bound is reached; returns how many were loaded.

        The newest are loaded first, each placed behind the others in the LRU, so warming
        can stop as soon as the byte bound is reached instead of reading older snapshots
        only to evict them; at most the one snapshot that crossed the bound is read and dropped.
        """
        loaded = 0
        for proxy in reversed(proxies[-self._nodes.retain :] if self.keeps_idle else []):
            if self._nodes.idle_full():
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

    async def resync(self) -> None:
        """The slow safety net: re-read the pointer of every cached node."""
        for path in self.node_paths:
            try:
                await self.refresh(ProxyId.parse(path))
            except Exception:  # one bad pointer must not stop the others
                log.exception("resync of %s failed", path)


async def _settled(ahead: asyncio.Future[Snapshot] | None) -> Snapshot | None:
    """The snapshot read ahead; None when none was read or its read failed (the pointer's own read follows)."""
    if ahead is None:
        return None
    try:
        return await ahead
    except Exception:  # expired, unreadable, not written: the key the pointer names is read instead
        log.debug("reading ahead failed", exc_info=True)
        return None
