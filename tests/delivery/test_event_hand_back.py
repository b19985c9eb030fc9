"""A replica that stops on a fixed queue hands back what its last long poll brings, so the replica that follows gets
the change at once instead of after the queue's visibility timeout."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from meshplane.delivery.events import EventConsumer
from meshplane.delivery.metrics import Metrics
from meshplane.model.ids import ProxyId

WAIT_S = 5.0


class SlowQueue:
    """An SQS client whose first receive blocks until `arrive` is set, then brings one message; later receives bring
    nothing."""

    def __init__(self) -> None:
        self.arrive = threading.Event()
        self.polling = threading.Event()
        self.released: list[dict[str, Any]] = []
        self.deleted: list[dict[str, Any]] = []
        self._first = True

    def receive_message(self, **_: Any) -> dict[str, Any]:
        if not self._first:
            time.sleep(0.05)
            return {}
        self._first = False
        self.polling.set()
        self.arrive.wait(WAIT_S)
        return {"Messages": [{"ReceiptHandle": "rh-1", "Body": "{}"}]}

    def change_message_visibility_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.released += Entries
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}

    def delete_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.deleted += Entries
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}


class Cache:
    async def refresh(self, proxy: ProxyId, hint: str = "") -> list[Any]:
        return []


def wait_for(condition: Any) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


async def stop_while_polling(queue: SlowQueue, *, hand_back: bool) -> None:
    consumer = EventConsumer(queue, "https://sqs/ads", Cache(), Metrics(), 1, hand_back=hand_back)  # type: ignore[arg-type]
    task = asyncio.ensure_future(consumer.run())
    await asyncio.to_thread(queue.polling.wait, WAIT_S)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    queue.arrive.set()  # the poll still in flight brings a message after the consumer stopped


def test_a_message_the_last_poll_brings_after_the_stop_is_made_visible_again_at_once() -> None:
    queue = SlowQueue()
    asyncio.run(stop_while_polling(queue, hand_back=True))
    wait_for(lambda: queue.released)
    assert queue.released == [{"Id": "0", "ReceiptHandle": "rh-1", "VisibilityTimeout": 0}]
    assert queue.deleted == []


def test_a_replica_on_its_own_queue_hands_nothing_back_since_the_queue_goes_with_it() -> None:
    queue = SlowQueue()
    asyncio.run(stop_while_polling(queue, hand_back=False))
    time.sleep(0.3)
    assert queue.released == [] and queue.deleted == []


def test_a_message_handled_before_the_stop_is_deleted_and_never_handed_back() -> None:
    queue = SlowQueue()
    queue.arrive.set()

    async def handle_then_stop() -> None:
        consumer = EventConsumer(queue, "https://sqs/ads", Cache(), Metrics(), 1, hand_back=True)  # type: ignore[arg-type]
        task = asyncio.ensure_future(consumer.run())
        while not queue.deleted:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(asyncio.wait_for(handle_then_stop(), WAIT_S))
    assert queue.deleted == [{"Id": "0", "ReceiptHandle": "rh-1"}] and queue.released == []
