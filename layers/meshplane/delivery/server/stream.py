"""Drive one ADS stream: identify the node, watch its snapshot, feed the protocol.

Requests and snapshot changes meet in one queue, so a stream's protocol state is
only ever touched by its own coroutine, in order.  A server may give its streams a
`StreamTransform`, which rewrites the cache's views for one stream from what its node
says (local runs: `localbind`); without one, a stream serves the views as cached.

Every way a stream ends carries a status an Envoy can act on: the client's mistakes
are INVALID_ARGUMENT, PERMISSION_DENIED or RESOURCE_EXHAUSTED (`StreamError`), a node
never published is NOT_FOUND, a snapshot store that cannot be read now is UNAVAILABLE,
and a fault of the server itself is INTERNAL, logged with its traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
from envoy.config.core.v3.base_pb2 import Node
from envoy.service.discovery.v3.discovery_pb2 import DeltaDiscoveryRequest, DiscoveryRequest
from google.protobuf.message import Message

from meshplane.delivery.cache import SnapshotCache, UnknownNode
from meshplane.delivery.metrics import Metrics
from meshplane.delivery.prepared import PreparedSnapshot
from meshplane.delivery.server.identity import Identity, StreamError, check_same_node, identify
from meshplane.delivery.status.report import Recorder, StatusEvents, StreamReport
from meshplane.identity.account import MeshAccount
from meshplane.publication.bucket import SourceUnavailable
from meshplane.snapshot.types import XdsType

log = logging.getLogger(__name__)


class StreamProtocol(Protocol):
    status: StatusEvents  # told each accepted ACK and NACK

    def on_request(self, request: Any, view: PreparedSnapshot) -> list[bytes]: ...

    def on_change(self, changed: list[XdsType], view: PreparedSnapshot) -> list[bytes]: ...

    def held_clusters_version(self, request: Any, view: PreparedSnapshot) -> str | None: ...

    def hold(self, previous: PreparedSnapshot) -> None: ...

    def wake_in(self) -> float | None: ...

    def on_wake(self, view: PreparedSnapshot) -> list[bytes]: ...


ViewMap = Callable[[PreparedSnapshot], PreparedSnapshot]


class StreamTransform(Protocol):
    def for_node(self, node: Node) -> ViewMap | None:
        """What this stream's views become, from its first request's node (None: served as cached);
        raises StreamError for node metadata it cannot take."""
        ...


@dataclass(frozen=True)
class _Changed:
    types: list[XdsType]


_REQUESTS = (DiscoveryRequest, DeltaDiscoveryRequest)
_CLOSED = object()
_WAKE = object()


class Stream:
    """One open stream; `close()` ends it cleanly (Envoy then reconnects)."""

    def __init__(self, cache: SnapshotCache, metrics: Metrics, account: MeshAccount | None = None,
                 transform: StreamTransform | None = None, recorder: Recorder | None = None,
                 peer: str = "") -> None:  # fmt: skip
        """`account`: the partition, region and account whose node ARNs are served (None: any);
        `recorder`: where this stream's Envoy status goes (None: not recorded), `peer` its address."""
        self._cache = cache
        self._metrics = metrics
        self._account = account
        self._transform = transform
        self._map: ViewMap | None = None  # this stream's views, when the transform rewrites them
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._recorder = recorder
        self._peer = peer
        self._report: StreamReport | None = None

    def close(self) -> None:
        self._queue.put_nowait(_CLOSED)

    def _changed(self, types: list[XdsType]) -> None:
        self._queue.put_nowait(_Changed(types))

    async def _pump(self, requests: AsyncIterator[Message]) -> None:
        try:
            async for request in requests:
                self._queue.put_nowait(request)
        finally:
            self._queue.put_nowait(_CLOSED)

    async def run(
        self,
        requests: AsyncIterator[Message],
        make_protocol: Callable[[str, Metrics], StreamProtocol],
        authorize: Callable[[Identity], None],
    ) -> AsyncIterator[bytes]:
        pump = asyncio.ensure_future(self._pump(requests))
        try:
            async with contextlib.aclosing(self._serve(make_protocol, authorize)) as outs:  # unwatch on close
                async for out in outs:
                    yield out
        except StreamError:
            raise
        except SourceUnavailable as exc:
            raise StreamError(grpc.StatusCode.UNAVAILABLE, f"snapshot store unavailable: {exc}") from None
        except Exception as exc:
            log.exception("stream failed")
            raise StreamError(grpc.StatusCode.INTERNAL, f"server error: {type(exc).__name__}") from None
        finally:
            pump.cancel()

    async def _serve(
        self, make_protocol: Callable[[str, Metrics], StreamProtocol], authorize: Callable[[Identity], None]
    ) -> AsyncGenerator[bytes, None]:
        first = await self._queue.get()
        if first is _CLOSED:
            return
        assert isinstance(first, _REQUESTS)
        identity = identify(first.node, self._account)
        if self._transform is not None:
            self._map = self._transform.for_node(first.node)
        authorize(identity)
        try:
            published = await self._cache.watch(identity.proxy, self._changed)
        except UnknownNode as exc:
            raise StreamError(grpc.StatusCode.NOT_FOUND, str(exc)) from None
        protocol = make_protocol(identity.node_id, self._metrics)
        if self._recorder is not None:
            self._report = protocol.status = self._recorder.report(identity.proxy, first.node, self._peer)
        try:
            async for out in self._loop(first, identity, protocol, self._served(published)):
                yield out
        finally:
            self._cache.unwatch(identity.proxy, self._changed)
            if self._report is not None:
                self._report.closed()

    def _served(self, published: PreparedSnapshot) -> PreparedSnapshot:
        """This stream's view of `published`, which its status report learns too."""
        view = self._mapped(published)
        if self._report is not None:
            self._report.view(published, view)
        return view

    def _mapped(self, view: PreparedSnapshot) -> PreparedSnapshot:
        return view if self._map is None else self._map(view)

    async def _loop(
        self, first: Message, identity: Identity, protocol: StreamProtocol, view: PreparedSnapshot
    ) -> AsyncIterator[bytes]:
        await self._recall(first, identity, protocol, view)
        for out in protocol.on_request(first, view):
            yield out
        while True:
            try:
                item = await asyncio.wait_for(self._queue.get(), protocol.wake_in())
            except TimeoutError:
                item = _WAKE  # held-back responses whose ACKs never came: the protocol decides
            if item is _CLOSED:
                return
            view = self._served(self._cache.view(identity.proxy))
            if item is _WAKE:
                outs = protocol.on_wake(view)
            elif isinstance(item, _Changed):
                outs = protocol.on_change(item.types, view)
            else:
                assert isinstance(item, _REQUESTS)
                check_same_node(identity, item.node)
                await self._recall(item, identity, protocol, view)
                outs = protocol.on_request(item, view)
            for out in outs:
                yield out

    async def _recall(
        self, request: Message, identity: Identity, protocol: StreamProtocol, view: PreparedSnapshot
    ) -> None:
        """A reconnecting SotW Envoy that holds an older CDS version: if it is the node's previous
        published one, read it back so its dropped clusters are removed make-before-break."""
        held = protocol.held_clusters_version(request, view)
        if held is None:
            return
        previous = await self._cache.previous(identity.proxy)
        if previous is not None:
            previous = self._mapped(previous)
        if previous is not None and previous.types[XdsType.CLUSTERS].version == held:
            protocol.hold(previous)
            self._metrics.reconnects_recalled += 1
