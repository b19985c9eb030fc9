"""The ADS server's table-backed source: pointers from the state table, bodies from the bucket.

The pointer is the truth for "which version is current"; ConfigPublished events only say
"look again".  Reading the pointer instead of trusting the event's key makes delivery
immune to events arriving out of order.  Without a table, the server reads the bucket's
pointer objects (`publication.bucket.SnapshotBucket`); with one (`meshplane ads --table`),
the safety resync makes one consistent read per cached proxy, which is cheaper than an
S3 GET and never stale.
"""

from __future__ import annotations

from typing import Any

from meshplane.model.ids import ProxyId
from meshplane.publication.bucket import SnapshotBucket
from meshplane.publication.pointer import Pointer
from meshplane.snapshot.snapshot import Snapshot
from meshplane.store.pointers import PointerStore
from meshplane.store.s3objects import guarded, snapshot_bucket

# DynamoDB's answer to a key over its size limit: no item can have it.
_INVALID_KEY = frozenset({"ValidationException"})


class DynamoDbPointers:
    """Reads the pointer item (`store.pointers`), or the bucket's pointer object when there is no item."""

    def __init__(self, s3: Any, bucket: str, dynamodb: Any, table: str) -> None:
        self._snapshots: SnapshotBucket = snapshot_bucket(s3, bucket)
        self._pointers = PointerStore(table, dynamodb)

    def pointer(self, proxy: ProxyId, if_none_match: str = "") -> Pointer | None:
        """The current pointer; None when nothing was published or no item can have this node's key.

        Raises `publication.bucket.SourceUnavailable` when it could not be read.
        """
        what = f"pointer item of {proxy.path}"
        # A 1-tuple, so that "no item can have this key" (None) differs from "no item" ((None,)).
        found = guarded(what, lambda: (self._pointers.get(proxy.path),), absent=_INVALID_KEY)
        if found is None:
            return None
        (pointer,) = found
        return pointer if pointer is not None else self._snapshots.pointer(proxy, if_none_match)

    def fetch(self, pointer: Pointer) -> Snapshot:
        return self._snapshots.fetch(pointer)

    def fetch_stored(self, pointer: Pointer) -> bytes:
        return self._snapshots.fetch_stored(pointer)

    def recent_proxies(self, limit: int) -> list[ProxyId]:
        return self._snapshots.recent_proxies(limit)
