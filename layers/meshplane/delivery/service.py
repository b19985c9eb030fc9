"""`meshplane ads` as a process: server + event consumer + safety resync + signal handling."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from meshplane.delivery import defaults
from meshplane.delivery.cache import SnapshotCache, Unknown
from meshplane.delivery.events import EventConsumer
from meshplane.delivery.limits_defaults import IDLE_MOST_S, IDLE_QUIET_S, MIB, UNKNOWN_TTL_S
from meshplane.delivery.metrics import Metrics
from meshplane.delivery.replica import ReplicaQueue, new_replica_id, queue_name
from meshplane.delivery.server import localbind
from meshplane.delivery.server.ads import AdsServer, AdsServicer, NodeIdentityTls, ServerTls, TlsFiles
from meshplane.delivery.server.appmesh_compat import CompatPort
from meshplane.delivery.server.limits import ServerLimits
from meshplane.delivery.status.writer import StatusWriter
from meshplane.identity.account import MeshAccount
from meshplane.identity.server import NodeIdentity
from meshplane.publication.bucket import SnapshotSource

log = logging.getLogger(__name__)

EXIT_RESERVE_S = 1.0  # of the grace period, kept for cancelling what the drain left and exiting


@dataclass(frozen=True)
class AdsOptions:
    host: str = defaults.ADS_HOST
    port: int = defaults.ADS_PORT
    queue_url: str | None = None  # one fixed queue (a single replica, e.g. `meshplane local up`)
    topic_arn: str | None = None  # or: a queue of this replica's own on the ConfigPublished topic
    queue_prefix: str = defaults.QUEUE_PREFIX
    replica_id: str | None = None
    resync_seconds: float = defaults.RESYNC_SECONDS
    grace_seconds: float = defaults.GRACE_SECONDS
    poll_wait_seconds: int = defaults.POLL_WAIT_SECONDS
    tls: TlsFiles | None = None
    retain_nodes: int = defaults.CACHE_NODES  # prepared snapshots kept for nodes without a stream (LRU); 0: none
    retain_bytes: int = defaults.CACHE_MIB * MIB  # and their estimated bytes at most (`memory.held_bytes`); 0: none
    preload: bool = True  # at startup, warm the most recently published nodes, within both bounds
    identity: NodeIdentity | None = None  # node CA, IAM decisions and the exchange port; takes the place of `tls`
    home: MeshAccount | None = None  # whose node ARNs are served without node identity (None: any)
    limits: ServerLimits = field(default_factory=ServerLimits)  # request size and open streams per peer address
    unknown_ttl_seconds: float = UNKNOWN_TTL_S  # how long a node found unpublished is answered without a read
    idle_quiet_seconds: float = IDLE_QUIET_S  # a node without a stream is refreshed once events pause this long
    idle_most_seconds: float = IDLE_MOST_S  # or this long after its event at the latest
    appmesh_compat: CompatPort | None = None  # a further port for the App Mesh Envoy image (off unless given)


class AdsService:
    """Everything `meshplane ads` runs, startable in-process by tests."""

    def __init__(self, source: SnapshotSource, options: AdsOptions, sqs: Any = None, sns: Any = None,
                 status: StatusWriter | None = None) -> None:  # fmt: skip
        """`status`: where each stream's Envoy status is written (`delivery.status`; None: not recorded)."""
        self.options = options
        self.status = status
        self.metrics = Metrics()
        self._source = source
        self.cache = SnapshotCache(source, self.metrics, retain=options.retain_nodes, retain_bytes=options.retain_bytes,
                                   unknown=Unknown(options.unknown_ttl_seconds), idle_quiet=options.idle_quiet_seconds,
                                   idle_most=options.idle_most_seconds)
        self.servicer, tls = _servicer_and_tls(self.cache, self.metrics, options, status)
        self._server = AdsServer(self.servicer, tls, options.limits)
        self.compat = _compat_server(self.cache, self.metrics, options, status)
        self.compat_port = 0
        self._sqs = sqs
        self.replica_queue = (
            ReplicaQueue(sqs, sns, options.topic_arn,
                         queue_name(options.queue_prefix, options.replica_id or new_replica_id()))
            if options.topic_arn and sqs is not None and sns is not None
            else None
        )  # fmt: skip
        self._tasks: list[asyncio.Future[None]] = []
        self.preloaded: asyncio.Future[None] | None = None  # done when the startup preload is
        self.port = 0

    async def start(self) -> int:
        queue_url = self.options.queue_url
        if self.replica_queue is not None:
            queue_url = await asyncio.to_thread(self.replica_queue.open)
        identity = self.options.identity
        try:
            if identity is not None:  # the exchange port: by default the one after the ADS port
                await asyncio.to_thread(identity.serve, self.options.host, self.options.port)
            self.port = await self._server.start(self.options.host, self.options.port)
            if self.compat is not None and self.options.appmesh_compat is not None:
                self.compat_port = await self.compat.start(self.options.host, self.options.appmesh_compat.port)
                log.info("App Mesh image port listening on %s:%d", self.options.host, self.compat_port)
        except BaseException:
            await self._server.stop(0)
            if identity is not None:
                identity.stop()
            if self.replica_queue is not None:  # a replica that never served leaves no queue behind
                await asyncio.to_thread(self.replica_queue.close)
            raise
        if queue_url and self._sqs is not None:
            consumer = EventConsumer(self._sqs, queue_url, self.cache, self.metrics, self.options.poll_wait_seconds,
                                     hand_back=self.replica_queue is None)
            self._tasks.append(asyncio.ensure_future(consumer.run()))
        self._tasks.append(asyncio.ensure_future(self._resync_forever()))
        if self.status is not None:
            self.status.start()
        if self.options.preload and self.cache.keeps_idle:
            self.preloaded = asyncio.ensure_future(self._preload())
            self._tasks.append(self.preloaded)
        log.info("ADS listening on %s:%d", self.options.host, self.port)
        return self.port

    async def _preload(self) -> None:
        """Serve at once; warm the latest snapshots in the background (a stream may load its own first)."""
        recent = getattr(self._source, "recent_proxies", None)
        if recent is None:
            return
        try:
            proxies = await asyncio.to_thread(recent, self.options.retain_nodes)
            loaded = await self.cache.preload(proxies)
        except Exception:  # a server that cannot preload still serves, loading on connect
            log.exception("preloading snapshots failed")
            return
        log.info(
            "preloaded %d of %d recently published nodes (%.1f MiB)", loaded, len(proxies), self.cache.idle_bytes / MIB
        )

    async def _resync_forever(self) -> None:
        while True:
            await asyncio.sleep(self.options.resync_seconds)
            await self.cache.resync()
            log.info("ADS metrics: %s", self.metrics.as_dict())

    async def stop(self, grace: float | None = None) -> None:
        """Stop polling, remove the replica queue while the streams drain for `grace` seconds."""
        for task in self._tasks:
            task.cancel()
        self.cache.close()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        removing = asyncio.ensure_future(asyncio.to_thread(self.replica_queue.close)) if self.replica_queue else None
        if self.options.identity is not None:
            await asyncio.to_thread(self.options.identity.stop)
        grace = self.options.grace_seconds if grace is None else grace
        await asyncio.gather(*(server.stop(grace) for server in (self._server, self.compat) if server is not None))
        if self.status is not None:  # after the streams: their disconnects are written too
            await self.status.stop()
        if removing is not None:
            await removing
        log.info("ADS stopped: %s", self.metrics.as_dict())

    async def serve_until_signalled(self) -> None:
        """Serve until SIGTERM/SIGINT; the process then ends within `grace_seconds`, come what may.

        With thousands of streams, or clients that stopped reading, gRPC's own drain and
        cancellation can overrun its grace on a busy host, so the drain gets the grace
        minus a reserve and a watchdog ends the process at the deadline.
        """
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        await stop.wait()
        grace = self.options.grace_seconds
        log.info("signal received: draining streams for up to %.1fs", grace)
        started = time.monotonic()
        _exit_at(grace)
        await self.stop(max(0.0, grace - EXIT_RESERVE_S))
        log.info("stopped %.2fs after the signal", time.monotonic() - started)


def _servicer_and_tls(
    cache: SnapshotCache, metrics: Metrics, options: AdsOptions, status: StatusWriter | None = None
) -> tuple[AdsServicer, ServerTls | None]:
    """Node identity, when configured, decides both: the node CA's TLS, and who may be which node."""
    identity = options.identity
    if identity is None:
        verify = bool(options.tls and options.tls.client_ca)
        return AdsServicer(cache, metrics, verify_client_identity=verify, home=options.home,
                           transform=localbind.for_host(options.host), recorder=status), options.tls  # fmt: skip
    require = identity.require_node_identity
    servicer = AdsServicer(cache, metrics, verify_client_identity=require, account=identity.account,
                           authorizer=identity.authorizer if require else None,
                           transform=localbind.for_host(options.host), recorder=status)  # fmt: skip
    return servicer, NodeIdentityTls(identity.keys, identity.client_roots, require)


def _compat_server(cache: SnapshotCache, metrics: Metrics, options: AdsOptions,
                   status: StatusWriter | None = None) -> AdsServer | None:  # fmt: skip
    """The App Mesh image's port: TLS without client certificates, its own admission, the same snapshots.

    Its certificate is the one given for it, else the server's own (the node CA's or `--tls-cert`).
    """
    compat = options.appmesh_compat
    if compat is None:
        return None
    identity = options.identity
    tls: ServerTls
    if compat.tls is not None:
        tls = compat.tls
    elif identity is not None:
        tls = NodeIdentityTls(identity.keys, b"", require_client_auth=False)
    elif options.tls is not None:
        tls = TlsFiles(options.tls.cert, options.tls.key)
    else:
        raise ValueError("the App Mesh image port serves TLS only: give it a certificate "
                         "(--appmesh-compat-cert/--appmesh-compat-key, --tls-cert/--tls-key or a node CA)")  # fmt: skip
    home = identity.account if identity is not None else options.home
    servicer = AdsServicer(cache, metrics, home=home, admission=compat.admission,
                           transform=localbind.for_host(options.host), recorder=status)  # fmt: skip
    return AdsServer(servicer, tls, options.limits)


def _exit_at(seconds: float) -> None:
    def force() -> None:
        log.warning("grace period of %.1fs over: exiting now", seconds)
        logging.shutdown()
        os._exit(0)

    timer = threading.Timer(seconds, force)
    timer.daemon = True
    timer.start()
