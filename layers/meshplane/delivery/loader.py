"""Reading nodes from the snapshot source: off the event loop, once per node however many streams ask.

The first stream of a node starts its load (pointer, snapshot and prepared view in one
trip to a worker thread, so a cold first stream waits once); streams of the same node
arriving meanwhile await that same load.  A source that hands out the stored bytes
(`fetch_stored`) has them read by `stored.loads`, which leaves each type in place.
A node with nothing published is remembered as such (`Unknown`) for a few seconds, so
streams that keep asking for it cost no read of the source each; its ConfigPublished
event forgets it at once.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from meshplane.delivery import stored
from meshplane.delivery.limits_defaults import UNKNOWN_MAX, UNKNOWN_TTL_S
from meshplane.delivery.metrics import Metrics
from meshplane.model.ids import ProxyId
from meshplane.publication.bucket import SnapshotSource, SourceUnavailable
from meshplane.publication.pointer import Pointer
from meshplane.snapshot.snapshot import Snapshot

N = TypeVar("N")
RunBlocking = Callable[..., Awaitable[Any]]


def read(source: SnapshotSource, pointer: Pointer) -> Snapshot:
    """The snapshot `pointer` names: from its stored bytes where the source gives them (`stored.loads`),
    else the source's own `fetch`; an unreadable body is `SourceUnavailable`, as the source's own is."""
    fetch_stored = getattr(source, "fetch_stored", None)
    if fetch_stored is None:
        return source.fetch(pointer)
    data: bytes = fetch_stored(pointer)
    try:
        return stored.loads(data)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SourceUnavailable(f"reading snapshot {pointer.key}: {type(exc).__name__}") from exc


class UnknownNode(LookupError):
    """No snapshot has been published for this proxy."""


class Unknown:
    """Nodes whose pointer was just found missing: at most `limit` of them, each for `ttl` seconds."""

    def __init__(self, ttl: float = UNKNOWN_TTL_S, limit: int = UNKNOWN_MAX,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
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


def _unpublished(proxy: ProxyId) -> UnknownNode:
    return UnknownNode(f"no configuration has been published for {proxy.path}")


class Loader(Generic[N]):
    """Loads nodes (`prepare` makes one of a snapshot and its pointer, in the worker thread) from `source`."""

    def __init__(self, source: SnapshotSource, metrics: Metrics, prepare: Callable[[Snapshot, Pointer], N],
                 run_blocking: RunBlocking = asyncio.to_thread, unknown: Unknown | None = None) -> None:  # fmt: skip
        """`run_blocking` takes the source's calls (boto3) off the event loop; `unknown` defaults to `Unknown()`."""
        self._source = source
        self._metrics = metrics
        self._prepare = prepare
        self._run = run_blocking
        self._unknown = Unknown() if unknown is None else unknown
        self._loading: dict[str, asyncio.Future[N]] = {}

    def loading(self, path: str) -> bool:
        return path in self._loading

    def forget_unknown(self, path: str) -> None:
        """Something was published for `path`: read the source again on the next ask."""
        self._unknown.forget(path)

    async def load(self, proxy: ProxyId) -> N:
        """The node, loaded once for all who ask meanwhile; raises UnknownNode when nothing was published."""
        path = proxy.path
        pending = self._loading.get(path)
        if pending is None:
            if path in self._unknown:  # found unpublished moments ago: no read
                raise _unpublished(proxy)
            pending = self._loading[path] = asyncio.ensure_future(self._load(proxy))
            pending.add_done_callback(lambda _done: self._loading.pop(path, None))
        return await asyncio.shield(pending)

    async def _load(self, proxy: ProxyId) -> N:
        def load() -> N | None:
            pointer = self._source.pointer(proxy)
            return None if pointer is None else self._prepare(read(self._source, pointer), pointer)

        node = await self._run(load)
        if node is None:
            self._unknown.add(proxy.path)
            raise _unpublished(proxy)
        self._metrics.snapshot_loads += 1
        return node  # type: ignore[no-any-return]

    async def load_at(self, pointer: Pointer) -> N:
        """Fetch and prepare the snapshot `pointer` names, off the event loop: a stream's CPU work, done ahead."""
        node = await self._run(lambda: self._prepare(read(self._source, pointer), pointer))
        self._metrics.snapshot_loads += 1
        return node  # type: ignore[no-any-return]

    async def pointer(self, proxy: ProxyId) -> Pointer | None:
        return await self._run(self._source.pointer, proxy)  # type: ignore[no-any-return]

    async def fetch(self, pointer: Pointer) -> Snapshot:
        snapshot = await self._run(read, self._source, pointer)
        self._metrics.snapshot_loads += 1
        return snapshot  # type: ignore[no-any-return]
