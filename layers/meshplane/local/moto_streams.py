"""DynamoDB Streams shard iterators in the local emulator expire after 15 minutes, as in AWS.

moto keeps every iterator it ever issued, and every `GetRecords` issues one: a stream
poller that polls 20 times a second grows the emulator by about 3 MB a minute, without end.
Installed in the emulator process (`motoserver`), iterators older than AWS's 15 minutes
are dropped, and using one answers `ExpiredIteratorException` as AWS does.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

LIFETIME = 15 * 60.0  # seconds
_INSTALLED = "_meshplane_expiring"


class ExpiringIterators(MutableMapping[str, Any]):
    """Iterator ARN -> moto's ShardIterator, for LIFETIME seconds after it was issued."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, lifetime: float = LIFETIME) -> None:
        self._issued: OrderedDict[str, tuple[float, Any]] = OrderedDict()  # oldest first
        self._clock, self._lifetime = clock, lifetime

    def __setitem__(self, arn: str, iterator: Any) -> None:
        self._drop_expired()
        self._issued[arn] = (self._clock(), iterator)
        self._issued.move_to_end(arn)

    def __getitem__(self, arn: str) -> Any:
        self._drop_expired()
        return self._issued[arn][1]

    def __delitem__(self, arn: str) -> None:
        del self._issued[arn]

    def __iter__(self) -> Iterator[str]:
        return iter(self._issued)

    def __len__(self) -> int:
        return len(self._issued)

    def _drop_expired(self) -> None:
        horizon = self._clock() - self._lifetime
        while self._issued and next(iter(self._issued.values()))[0] < horizon:
            self._issued.popitem(last=False)


def install() -> None:
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    if getattr(DynamoDBStreamsBackend.__init__, _INSTALLED, False):
        return
    init, get_records = DynamoDBStreamsBackend.__init__, DynamoDBStreamsBackend.get_records

    def expiring_init(self: Any, region_name: str, account_id: str) -> None:
        init(self, region_name, account_id)
        self.shard_iterators = ExpiringIterators()

    def checked_get_records(self: Any, iterator_arn: str, limit: int) -> dict[str, Any]:
        if iterator_arn not in self.shard_iterators:
            from moto.core.exceptions import JsonRESTError

            raise JsonRESTError("ExpiredIteratorException", "Iterator expired or unknown: get a new one")
        return dict(get_records(self, iterator_arn, limit))

    setattr(expiring_init, _INSTALLED, True)
    DynamoDBStreamsBackend.__init__ = expiring_init  # type: ignore[method-assign]
    DynamoDBStreamsBackend.get_records = checked_get_records  # type: ignore[method-assign]
