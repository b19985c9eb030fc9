"""An `Objects` edge that remembers the snapshot bodies it wrote, so reading one back costs no GET.

Why: an endpoint change rebuilds a proxy over its last published snapshot, which the same
warm publisher usually wrote itself one change earlier; its S3 GET sat on the path of
every such change.  Snapshot keys are content-addressed and written once
(`layout.snapshot_key`), so the bytes written under one are the bytes a GET returns for
as long as the object lives.  Pointer objects are overwritten in place and are never
remembered: every read of one goes to the bucket, as does a conditional read
(`if_none_match`) and any body this process did not write.

The memory is bounded by bytes, least recently used first; a body larger than the bound
is not kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime

from meshplane.publication.bucket import Objects, StoredObject
from meshplane.publication.layout import SNAPSHOT_PREFIX

LIMIT_BYTES = 16 * 1024 * 1024


class WrittenBodies:
    """`objects` with the snapshot bodies written through it kept in memory, up to `limit_bytes`."""

    def __init__(self, objects: Objects, limit_bytes: int = LIMIT_BYTES) -> None:
        self._objects = objects
        self._limit = limit_bytes
        self._kept: OrderedDict[str, bytes] = OrderedDict()  # least recently used first
        self._bytes = 0
        self._lock = threading.Lock()  # shards publish from several threads

    @property
    def name(self) -> str:
        return self._objects.name

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self._objects.put(key, body, content_type)  # remembered only once it was written
        if key.startswith(SNAPSHOT_PREFIX) and len(body) <= self._limit:
            with self._lock:
                self._bytes -= len(self._kept.pop(key, b""))
                self._kept[key] = bytes(body)
                self._bytes += len(body)
                while self._bytes > self._limit:
                    _, dropped = self._kept.popitem(last=False)
                    self._bytes -= len(dropped)

    def get(self, key: str, *, if_none_match: str = "") -> StoredObject | None:
        if not if_none_match:
            with self._lock:
                body = self._kept.get(key)
                if body is not None:
                    self._kept.move_to_end(key)
            if body is not None:
                return StoredObject(body)
        return self._objects.get(key, if_none_match=if_none_match)

    def listed(self, prefix: str) -> list[tuple[datetime, str]]:
        return self._objects.listed(prefix)
