"""`meshplane ads` as a process: server + event consumer + safety resync + signal handling."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass
from typing import Any

from meshplane.delivery.cache import SnapshotCache
from meshplane.delivery.events import EventConsumer
from meshplane.delivery.metrics import Metrics
from meshplane.delivery.replica import ReplicaQueue, new_replica_id, queue_name
from meshplane.delivery.server.ads import AdsServer, AdsServicer, TlsFiles
from meshplane.delivery.source import SnapshotSource

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AdsOptions:
    host: str = "0.0.0.0"
    port: int = 18000
    queue_url: str | None = None  # one fixed queue (a single replica, e.g. `meshplane local up`)
    topic_arn: str | None = None  # or: a queue of this replica's own on the ConfigPublished topic
    queue_prefix: str = "meshplane-ads"
    replica_id: str | None = None
    resync_seconds: float = 300.0
    grace_seconds: float = 5.0
    poll_wait_seconds: int = 5
    tls: TlsFiles | None = None


class AdsService:
    """Everything `meshplane ads` runs, startable in-process by tests."""

    def __init__(self, source: SnapshotSource, options: AdsOptions, sqs: Any = None, sns: Any = None) -> None:
        self.options = options
        self.metrics = Metrics()
        self.cache = SnapshotCache(source, self.metrics)
        self.servicer = AdsServicer(
            self.cache, self.metrics, verify_client_identity=bool(options.tls and options.tls.client_ca)
        )
        self._server = AdsServer(self.servicer, options.tls)
        self._sqs = sqs
        self.replica_queue = (
            ReplicaQueue(sqs, sns, options.topic_arn,
                         queue_name(options.queue_prefix, options.replica_id or new_replica_id()))
            if options.topic_arn and sqs is not None and sns is not None
            else None
        )  # fmt: skip
        self._tasks: list[asyncio.Task[None]] = []
        self.port = 0

    async def start(self) -> int:
        queue_url = self.options.queue_url
        if self.replica_queue is not None:
            queue_url = await asyncio.to_thread(self.replica_queue.open)
        self.port = await self._server.start(self.options.host, self.options.port)
        if queue_url and self._sqs is not None:
            consumer = EventConsumer(self._sqs, queue_url, self.cache, self.metrics, self.options.poll_wait_seconds)
            self._tasks.append(asyncio.ensure_future(consumer.run()))
        self._tasks.append(asyncio.ensure_future(self._resync_forever()))
        log.info("ADS listening on %s:%d", self.options.host, self.port)
        return self.port

    async def _resync_forever(self) -> None:
        while True:
            await asyncio.sleep(self.options.resync_seconds)
            await self.cache.resync()
            log.info("ADS metrics: %s", self.metrics.as_dict())

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._server.stop(self.options.grace_seconds)
        if self.replica_queue is not None:
            await asyncio.to_thread(self.replica_queue.close)
        log.info("ADS stopped: %s", self.metrics.as_dict())

    async def serve_until_signalled(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        await stop.wait()
        log.info("signal received: draining streams for up to %.1fs", self.options.grace_seconds)
        await self.stop()
