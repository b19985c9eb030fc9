"""ConfigPublished events from SQS: each one makes the cache re-read that node's pointer.

The snapshot key an event names is handed on as a hint: the cache reads it while it reads the
pointer, and keeps it only if the pointer names it (`cache.SnapshotCache.refresh`); a node without a
stream here is refreshed once the events pause (`cache.SnapshotCache.published`).  Of several
events for one node in a batch, the last one's key is the hint.

Fan-out (AWS): every ADS replica needs every event, so each replica owns a queue
subscribed to the ConfigPublished SNS topic (`replica.py`); a single replica may
read one fixed queue instead (`--queue-url`).  Bodies are accepted raw (EventBridge → SQS,
SNS raw delivery) or wrapped in an SNS envelope (`{"Type": "Notification", "Message": ...}`).

A replica that stops on a fixed queue hands back what it received and did not handle
(`hand_back`): its last long poll runs on in a daemon thread, and what that poll receives
would otherwise stay invisible for the queue's visibility timeout, so the replica that
follows (a restart of `meshplane local up`) would push the change that much later.  A
replica's own queue is deleted when it stops, so there is nothing to hand back.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
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

    def __init__(self, sqs: Any, queue_url: str, cache: SnapshotCache, metrics: Metrics, wait_seconds: int = 5,
                 *, hand_back: bool = False) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._cache = cache
        self._metrics = metrics
        self._wait = wait_seconds
        self._hand_back = hand_back
        self._lock = threading.Lock()
        self._stopped = False
        self._held: dict[str, dict[str, Any]] = {}  # received and not yet deleted, by receipt handle

    async def run(self) -> None:
        try:
            while True:
                try:
                    await self.poll_once()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("polling %s failed; retrying", self._queue_url)
                    await asyncio.sleep(1)
        finally:
            with self._lock:
                self._stopped = True
                held, self._held = list(self._held.values()), {}
            if held:
                await asyncio.to_thread(self._release, held)

    async def poll_once(self) -> int:
        messages = await in_daemon_thread(self._receive)  # a long poll must not hold up exit
        keys = dict(found for found in (published(m["Body"]) for m in messages) if found is not None)
        self._metrics.events_received += len(messages)
        await asyncio.gather(*(self._cache.published(p, key) for p, key in keys.items()))
        if messages:
            await asyncio.to_thread(
                self._sqs.delete_message_batch,
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
            with self._lock:
                for message in messages:
                    self._held.pop(message["ReceiptHandle"], None)
        return len(messages)

    def _receive(self) -> list[dict[str, Any]]:
        """One long poll (in a daemon thread); what it brings after the consumer stopped is handed back."""
        reply = self._sqs.receive_message(QueueUrl=self._queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=self._wait)
        messages: list[dict[str, Any]] = reply.get("Messages", [])
        with self._lock:
            if not self._stopped:
                self._held.update((m["ReceiptHandle"], m) for m in messages)
                return messages
        self._release(messages)
        return []

    def _release(self, messages: Sequence[dict[str, Any]]) -> None:
        """Make `messages` visible again at once, where this consumer hands back (a fixed queue)."""
        if not self._hand_back or not messages:
            return
        try:
            self._sqs.change_message_visibility_batch(QueueUrl=self._queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(messages)])
        except Exception:  # they come back after the visibility timeout instead
            log.warning("could not hand %d messages back to %s", len(messages), self._queue_url, exc_info=True)
