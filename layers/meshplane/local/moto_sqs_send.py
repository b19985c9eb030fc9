"""An SQS send in the emulator costs the same however many messages the queue holds.

moto's `send_message` asks the queue's `attributes` for one of them
(`ContentBasedDeduplication`), and that property computes every attribute, the
approximate message counts among them, each a pass over every message in the queue with
two clock reads per message. A queue nobody reads (EventBridge delivering each
ConfigPublished to ConfigPublishedQueue while no ADS service runs) makes each send slower
than the last. While moto sends a message, the queue's `attributes` here is a mapping that
computes the attribute asked for alone, by moto's own rules; everywhere else (GetQueueAttributes
above all) moto's property answers as before.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

_INSTALLED = "_meshplane_send"
_sending = threading.local()  # `depth` > 0 while moto sends a message on this thread
MOTO: dict[str, Any] = {}  # moto's own `Queue.attributes` property and `SQSBackend.send_message`, once installed


class OnDemandAttributes(Mapping[str, Any]):
    """A queue's attributes as moto's `Queue.attributes` lists them, each computed only when read."""

    def __init__(self, queue: Any) -> None:
        self._queue = queue

    def _names(self) -> list[str]:
        queue = self._queue
        names = list(queue.BASE_ATTRIBUTES)  # Policy and RedrivePolicy among them
        if queue.fifo_queue:
            names += queue.FIFO_ATTRIBUTES
        if queue.kms_master_key_id:
            names += queue.KMS_ATTRIBUTES
        return list(dict.fromkeys(names))  # moto's result is a dict: a name listed twice is one key

    def __getitem__(self, name: str) -> Any:
        from moto.core.utils import camelcase_to_underscores

        if name not in self._names():
            raise KeyError(name)
        queue = self._queue
        if name == "Policy" and queue.policy:
            value: Any = queue.policy
        elif name == "RedrivePolicy" and queue.redrive_policy:
            value = json.dumps(queue.redrive_policy)
        else:
            value = getattr(queue, camelcase_to_underscores(name))
        return str(value).lower() if isinstance(value, bool) else value

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())


def install() -> None:
    from moto.sqs.models import Queue, SQSBackend

    if getattr(SQSBackend.send_message, _INSTALLED, False):
        return
    MOTO.update(attributes=Queue.__dict__["attributes"], send_message=SQSBackend.send_message)
    whole: Callable[[Any], dict[str, Any]] = MOTO["attributes"].fget

    def attributes(queue: Any) -> Mapping[str, Any]:
        if getattr(_sending, "depth", 0):
            return OnDemandAttributes(queue)
        return whole(queue)

    @functools.wraps(MOTO["send_message"])
    def send_message(self: Any, *args: Any, **kwargs: Any) -> Any:
        _sending.depth = getattr(_sending, "depth", 0) + 1
        try:
            return MOTO["send_message"](self, *args, **kwargs)
        finally:
            _sending.depth -= 1

    setattr(send_message, _INSTALLED, True)
    Queue.attributes = property(attributes)  # type: ignore[assignment,method-assign]
    SQSBackend.send_message = send_message  # type: ignore[method-assign]
