"""Where a stream poller is in one shard, and which records it has already read there.

An emulator can rewrite a shard under a reader. moto, when a transaction is cancelled,
puts back a copy of the table taken before it began: the shard is a new object, the
iterators already handed out keep reading the old one (which never grows again), the
records of the cancelled writes vanish, and the next writes reuse their sequence numbers.
So a poller anchors again now and then, at the last record it read, and tells records
apart by sequence number *and* event id: a record read before is never delivered twice,
and a new record at a reused sequence number is still new.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

REMEMBERED = 1000  # more than the records of one transaction (at most 100 items)


@dataclass
class ShardCursor:
    iterator: str | None  # None once the shard is closed and read to its end
    seen: OrderedDict[int, str] = field(default_factory=OrderedDict)  # sequence number -> eventID, newest last

    @property
    def last(self) -> int | None:
        """The sequence number of the newest record read, if any."""
        return next(reversed(self.seen)) if self.seen else None

    @property
    def oldest(self) -> int | None:
        return next(iter(self.seen)) if self.seen else None

    def agrees(self, records: list[dict[str, Any]]) -> bool:
        """Whether `records`, read from `last` on, start with the record read there."""
        if self.last is None:
            return True
        return bool(records) and _identity(records[0]) == (self.last, self.seen[self.last])

    def take(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The records not read before, in order; each is remembered as read."""
        new = []
        for record in records:
            sequence, event_id = _identity(record)
            if self.seen.get(sequence) == event_id:
                continue
            self.seen.pop(sequence, None)  # a reused number: the record before it there is gone
            self.seen[sequence] = event_id
            new.append(record)
        while len(self.seen) > REMEMBERED:
            self.seen.popitem(last=False)
        return new


def _identity(record: dict[str, Any]) -> tuple[int, str]:
    return int(record["dynamodb"]["SequenceNumber"]), str(record.get("eventID", ""))
