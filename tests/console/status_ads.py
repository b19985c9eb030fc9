"""An ADS server of the test's own, recording proxy status into local up's table.

local up's scheduled reconcile republishes every proxy's computed snapshot every few seconds, which would heal
an injected invalid snapshot before a page could show its NACK.  This server serves the test's own bucket instead
(`delivery.harness.Publisher` publishes to it), so what Envoy is sent is the test's alone, while the status it
records goes where local up's ADS records it: the API's proxy status read, and so the console, shows it as it would.
Its writer writes an Envoy at most every 2 s instead of production's 10 s, so an Envoy's first full ACKs show without
the test waiting out the interval; a NACK takes production's path (urgent, ahead of everything).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from delivery.harness import Aws, Publisher, ThreadedAds
from meshplane.delivery.service import AdsOptions, AdsService
from meshplane.delivery.status.coalescer import Coalescer, WriteBounds
from meshplane.delivery.status.writer import StatusWriter
from meshplane.local.harness import LocalStack
from meshplane.store.proxy_status import ProxyStatusStore
from meshplane.store.s3objects import snapshot_bucket

BOUNDS = WriteBounds(settle_seconds=0.2, interval_seconds=2.0)


class StatusAds(ThreadedAds):
    def __init__(self, aws: Aws, table: str) -> None:
        self._table = table
        super().__init__(aws)

    async def _build(self, aws: Aws, options: AdsOptions) -> AdsService:
        writer = StatusWriter(ProxyStatusStore(self._table, aws.client("dynamodb")), Coalescer(BOUNDS))
        return AdsService(snapshot_bucket(aws.client("s3"), aws.bucket), options, aws.client("sqs"),
                          aws.client("sns"), writer)  # fmt: skip


@contextmanager
def status_ads(local_stack: LocalStack) -> Iterator[tuple[StatusAds, Publisher]]:
    """The server on a fresh bucket of local up's emulator, and the publisher to that bucket."""
    aws = Aws(local_stack.endpoint_url).create()
    server = StatusAds(aws, local_stack.table)
    try:
        yield server, Publisher(aws)
    finally:
        server.stop()
