"""The store edge of proxy status: the coalescer's due states written to the state table.

`StatusWriter` runs beside the ADS server on its event loop: it sleeps until the
coalescer has something due (or a NACK wakes it), writes connected Envoys' items in
batches of 25 and each disconnect conditionally (`store.proxy_status`), in a worker
thread so streams never wait on DynamoDB.  A failed write is logged and offered again.
On stop, whatever is pending is written regardless of the bounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from envoy.config.core.v3.base_pb2 import Node

from meshplane.delivery.status.coalescer import Coalescer
from meshplane.delivery.status.report import StreamReport
from meshplane.model.ids import ProxyId
from meshplane.store.proxy_status import EnvoyStatus

log = logging.getLogger(__name__)
LOOK_SECONDS = 1.0  # the longest the writer sleeps: a state offered meanwhile may be due before what it waited for


class StatusStore(Protocol):
    def put(self, statuses: Sequence[EnvoyStatus]) -> int: ...

    def disconnect(self, status: EnvoyStatus) -> bool: ...


@dataclass
class WriteCounts:
    items: int = 0
    calls: int = 0
    failures: int = 0


def write(store: StatusStore, statuses: Sequence[EnvoyStatus], counts: WriteCounts) -> None:
    """Connected Envoys' items in batches, disconnects one by one (each conditional on its connection)."""
    live = [s for s in statuses if s.connected]
    if live:
        counts.calls += store.put(live)
    for status in statuses:
        if not status.connected:
            store.disconnect(status)
            counts.calls += 1
    counts.items += len(statuses)


class StatusWriter:
    """Writes the coalescer's due states on the running loop until stopped; hands out stream reports."""

    def __init__(self, store: StatusStore, coalescer: Coalescer | None = None, replica: str | None = None) -> None:
        self._store = store
        self.coalescer = coalescer if coalescer is not None else Coalescer()
        self.counts = WriteCounts()
        self._replica = replica or uuid.uuid4().hex[:8]
        self._streams = itertools.count(1)
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Future[None] | None = None

    def report(self, proxy: ProxyId, node: Node, peer: str) -> StreamReport:
        """The report of a stream that just identified its node: its Envoy counts as connected."""
        return StreamReport.opened(self, proxy, node, peer, f"{self._replica}-{next(self._streams)}")

    def offer(self, status: EnvoyStatus, *, urgent: bool = False) -> None:
        self.coalescer.offer(status, urgent=urgent)
        if urgent and self._wake is not None:
            self._wake.set()

    def start(self) -> None:
        self._wake = asyncio.Event()
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            wait = self.coalescer.next_due()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), LOOK_SECONDS if wait is None else min(wait, LOOK_SECONDS))
            self._wake.clear()
            due = self.coalescer.take()
            if due:
                await self._write(due)

    async def _write(self, statuses: list[EnvoyStatus]) -> None:
        try:
            await asyncio.to_thread(write, self._store, statuses, self.counts)
        except Exception:
            self.counts.failures += 1
            log.exception("writing %d proxy status items failed; offered again", len(statuses))
            self.coalescer.failed(statuses)

    async def stop(self) -> None:
        """Stop the loop, then write everything still pending (the streams have closed by now)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        left = self.coalescer.drain()
        if left:
            await self._write(left)

