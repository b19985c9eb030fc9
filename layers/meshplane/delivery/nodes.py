"""The nodes an ADS server holds in memory, and the bounds on those without a stream.

A node with a stream is held whatever its size: Envoys are being served from it.  A
node whose last stream closed stays prepared (idle), so that its next Envoy (a restart,
a reconnect after a deploy) is served from memory; idle nodes form an LRU of at most
`retain` nodes and `retain_bytes` estimated bytes, so the task's memory can be sized.
Sizes come from the owner's `measure`, taken when a node is held, goes idle or is
told to have changed (`remeasure`), so the byte totals stay exact.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from meshplane.delivery.defaults import CACHE_NODES
from meshplane.delivery.metrics import Metrics

log = logging.getLogger(__name__)

N = TypeVar("N")


class NodeStore(Generic[N]):
    """Nodes by path: streamed ones, and an LRU of idle ones bounded by count and by bytes."""

    def __init__(self, metrics: Metrics, measure: Callable[[N], int], retain: int = CACHE_NODES,
                 retain_bytes: int | None = None) -> None:  # fmt: skip
        """`retain_bytes` None: no byte bound."""
        self._metrics = metrics
        self._measure = measure
        self.retain = max(0, retain)
        self._retain_bytes = None if retain_bytes is None else max(0, retain_bytes)
        self._streamed: dict[str, N] = {}
        self._idle: OrderedDict[str, N] = OrderedDict()  # least recently used first
        self._sizes: dict[str, int] = {}  # each held node's size when last measured
        self._streamed_bytes = 0
        self._idle_bytes = 0

    @property
    def keeps_idle(self) -> bool:
        """False when either bound is 0: a node is dropped with its last stream."""
        return self.retain > 0 and self._retain_bytes != 0

    @property
    def idle_bytes(self) -> int:
        """The estimated bytes of the idle nodes: what `retain_bytes` bounds."""
        return self._idle_bytes

    def idle_full(self) -> bool:
        over_bytes = self._retain_bytes is not None and self._idle_bytes >= self._retain_bytes
        return len(self._idle) >= self.retain or over_bytes

    @property
    def paths(self) -> list[str]:
        """Every node held, streamed or idle."""
        return sorted({*self._streamed, *self._idle})

    @property
    def idle_paths(self) -> list[str]:
        """Idle nodes, least recently used first."""
        return list(self._idle)

    def get(self, path: str) -> N | None:
        node = self._streamed.get(path)
        return self._idle.get(path) if node is None else node

    def streamed(self, path: str) -> N | None:
        return self._streamed.get(path)

    def take(self, path: str) -> N | None:
        """The node held at `path`, now as streamed (an idle one leaves the LRU); None when none is."""
        node = self._streamed.get(path)
        if node is not None:
            return node
        node = self._idle.pop(path, None)
        if node is None:
            return None
        self._idle_bytes -= self._sizes[path]
        self._stream(path, node, self._sizes[path])
        return node

    def hold(self, path: str, node: N) -> N:
        """Hold a freshly loaded `node` as streamed, unless one is held at `path` already: returns the one held."""
        held = self.take(path)
        if held is not None:
            return held
        self._stream(path, node, self._measure(node))
        return node

    def _stream(self, path: str, node: N, size: int) -> None:
        self._streamed[path] = node
        self._sizes[path] = size
        self._streamed_bytes += size
        self._gauge()

    def release(self, path: str) -> None:
        """`path` has no stream any more: its node goes idle, or is dropped when idle nodes are not kept
        or it does not fit."""
        node = self._streamed.pop(path, None)
        if node is None:
            return
        self._streamed_bytes -= self._sizes.pop(path)
        if not self.keep_idle(path, node):
            self._gauge()

    def keep_idle(self, path: str, node: N, *, oldest: bool = False) -> bool:
        """Keep a node without streams as the most (or `oldest`: least) recently used; False if evicted at once.

        Measured again: streams may have built response bodies since it was last measured."""
        if not self.keeps_idle:
            return False
        if self._idle.pop(path, None) is not None:
            self._idle_bytes -= self._sizes[path]
        size = self._sizes[path] = self._measure(node)
        self._idle[path] = node
        self._idle.move_to_end(path, last=not oldest)
        self._idle_bytes += size
        self._evict()
        return path in self._idle

    def remeasure(self, path: str) -> None:
        """Measure the node held at `path` again (its snapshot changed); an idle node that grew may go."""
        node = self.get(path)
        if node is None:
            return
        size = self._measure(node)
        grown, self._sizes[path] = size - self._sizes[path], size
        if path in self._streamed:
            self._streamed_bytes += grown
        else:
            self._idle_bytes += grown
        self._evict()

    def _evict(self) -> None:
        """Drop least recently used idle nodes while either bound is exceeded."""
        limit = self._retain_bytes
        while self._idle and (len(self._idle) > self.retain or (limit is not None and self._idle_bytes > limit)):
            evicted, _node = self._idle.popitem(last=False)
            size = self._sizes.pop(evicted)
            self._idle_bytes -= size
            self._metrics.cache_evictions += 1
            log.debug("evicted idle node %s (%d bytes)", evicted, size)
        self._gauge()

    def _gauge(self) -> None:
        metrics = self._metrics
        metrics.cache_idle_nodes, metrics.cache_idle_bytes = len(self._idle), self._idle_bytes
        metrics.cache_streamed_nodes, metrics.cache_streamed_bytes = len(self._streamed), self._streamed_bytes
