"""ConfigPublished events from SQS: each one makes the cache re-read that node's pointer.

The snapshot key an event names is handed on as a hint: the cache reads it while it reads the
pointer, and keeps it only if the pointer names it (`cache.SnapshotCache.refresh`).  Of several
events for one node in a batch, the last one's key is the hint.

Fan-out (AWS): every ADS replica needs every event, so each replica owns a queue
subscribed to the ConfigPublished SNS topic (`replica.py`); a single replica may
read one fixed queue instead (`--queue-url`).  Bodies are accepted raw (EventBridge → SQS,
SNS raw delivery) or wrapped in an SNS envelope (`{"Type": "Notification", "Message": ...}`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from meshplane.delivery.cache import SnapshotCache
from meshplane.delivery.daemon import in_daemon_thread
from meshplane.delivery.metrics import Metrics
from meshplane.model.ids import ProxyId
from meshplane.publication.event import ConfigPublished

log = logging.getLogger(__name__)


def published(body: str) -> tuple[ProxyId, str] | None:
    """The proxy a ConfigPublished message is about and the snapshot key it names, or None for anything else."""
    try:
        event = ConfigPublished.from_message(body)
        if event is None:
            return None
        log.debug("ConfigPublished received: node %s version %s", event.node_id, event.version)
        return ProxyId.parse(event.node_id), event.key
    except (ValueError, TypeError):
        log.warning("ignoring malformed event: %.200s", body)
        return None


class EventConsumer:
    """Long-polls the queue and refreshes affected nodes; SQS calls run off the event loop."""

    def __init__(self, sqs: Any, queue_url: str, cache: SnapshotCache, metrics: Metrics, wait_seconds: int = 5) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._cache = cache
        self._metrics = metrics
        self._wait = wait_seconds

    async def run(self) -> None:
        while True:
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("polling %s failed; retrying", self._queue_url)
                await asyncio.sleep(1)

    async def poll_once(self) -> int:
        reply = await in_daemon_thread(  # a long poll must not hold up exit
            self._sqs.receive_message,
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=self._wait,
        )
        messages = reply.get("Messages", [])
        keys = dict(found for found in (published(m["Body"]) for m in messages) if found is not None)
        self._metrics.events_received += len(messages)
        await asyncio.gather(*(self._cache.refresh(p, key) for p, key in keys.items()))
        if messages:
            await asyncio.to_thread(
                self._sqs.delete_message_batch,
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
        return len(messages)
