"""Put, pointer and fetch: the one implementation of publishing a snapshot and reading it back.

The writer (the pipeline's `Publisher`, the delivery tests' publisher) and the readers
(the ADS server, the file agent, the pipeline reading its previous snapshot) all go
through `SnapshotBucket`, over an injected `Objects` edge (`store.s3objects.S3Objects`).

Readers see failures in two kinds, so a caller can answer an Envoy properly: a pointer
that is not there (nothing was published, or the key cannot exist) is None; anything
else (throttling, 5xx, access denied, the network, an unreadable pointer or snapshot)
is `SourceUnavailable`: the store could not be read now, and the same read may succeed
later.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from meshplane.model.ids import ProxyId
from meshplane.publication.event import ConfigPublished
from meshplane.publication.layout import POINTER_PREFIX, pointer_key, proxy_of_pointer_key, snapshot_key
from meshplane.publication.pointer import (
    Pointer,
    changed_types,
    pointer_document,
    pointer_from_document,
    previous_key_after,
)
from meshplane.snapshot.snapshot import Snapshot


class SourceUnavailable(Exception):
    """The store could not be read now (throttled, down, denied, unreadable): worth retrying later."""


@dataclass(frozen=True)
class StoredObject:
    body: bytes
    etag: str = ""


class Objects(Protocol):
    """The bucket edge: plain object I/O, failures already sorted (see the module docstring)."""

    @property
    def name(self) -> str:
        """The bucket's name, as `ConfigPublished` carries it."""
        ...

    def put(self, key: str, body: bytes, content_type: str) -> None: ...

    def get(self, key: str, *, if_none_match: str = "") -> StoredObject | None:
        """The object; None when it is not there or not modified since `if_none_match`."""
        ...

    def listed(self, prefix: str) -> list[tuple[datetime, str]]:
        """(last modified, key) of every object under `prefix`."""
        ...


class SnapshotSource(Protocol):
    """What delivery reads: the current pointer of a proxy, and the snapshot a pointer names."""

    def pointer(self, proxy: ProxyId) -> Pointer | None: ...

    def fetch(self, pointer: Pointer) -> Snapshot: ...


Advance = Callable[[Pointer], Pointer]  # the conditional move of the table's pointer; returns it as stored
Announce = Callable[[ConfigPublished], None]
Traced = Callable[[str], AbstractContextManager[object]]


def _untraced(_step: str) -> AbstractContextManager[object]:
    return nullcontext()


@dataclass(frozen=True)
class Published:
    pointer: Pointer  # as the advance stored it
    event: ConfigPublished
    size: int  # bytes of the snapshot body


@dataclass(frozen=True)
class Body:
    """A snapshot body in the bucket: its key and its size in bytes."""

    key: str
    size: int


class SnapshotBucket:
    """The published snapshots and pointers of every proxy, in one bucket."""

    def __init__(self, objects: Objects) -> None:
        self._objects = objects

    @property
    def name(self) -> str:
        return self._objects.name

    # --- put -------------------------------------------------------------------------------

    def write_body(self, proxy: ProxyId, snapshot: Snapshot, traced: Traced = _untraced) -> Body:
        """Write the snapshot's body under its content-addressed key: the first step of `put`, which a
        publisher may take ahead (while its validators run) and hand to `put` as `written`.

        A body nothing points at is not published: no pointer names it, and the lifecycle rule expires it."""
        key, body = snapshot_key(proxy, snapshot.version), snapshot.to_bytes()
        with traced("s3.put_snapshot"):
            self._objects.put(key, body, "application/octet-stream")
        return Body(key, len(body))

    def put(self, proxy: ProxyId, snapshot: Snapshot, previous: Pointer | None, *, advance: Advance,
            announce: Announce, certificates: Mapping[str, str] | None = None, traced: Traced = _untraced,
            written: Body | None = None) -> Published:
        """Publish `snapshot` over `previous`: body, then pointer (table, then bucket), then the event.

        The body is written before `advance` moves the table's pointer, so no pointer ever
        names a missing body; `advance` raising (another publisher moved it first) leaves
        only an unreferenced body behind, which the lifecycle rule expires.  `written` is the
        body `write_body` already wrote for this snapshot (ValueError if it names another).
        `traced` names each step for tracing.
        """
        version = snapshot.version
        key = snapshot_key(proxy, version)
        if written is None:
            written = self.write_body(proxy, snapshot, traced)
        elif written.key != key:
            raise ValueError(f"the body written is {written.key}, not this snapshot's {key}")
        versions = {kind.value: version for kind, version in snapshot.versions.items()}
        pointer = Pointer(version, key, versions=versions, certificates=dict(certificates or {}),
                          previous_key=previous_key_after(previous, versions))  # fmt: skip
        with traced("dynamodb.advance_pointer"):
            pointer = advance(pointer)
        with traced("s3.put_pointer"):
            self._objects.put(pointer_key(proxy), pointer_document(pointer), "application/json")
        event = ConfigPublished(node_id=proxy.path, mesh=proxy.mesh, version=version, bucket=self.name,
                                key=key, versions=versions,
                                changed_types=changed_types(previous, versions))  # fmt: skip
        announce(event)
        return Published(pointer, event, written.size)

    # --- pointer and fetch -----------------------------------------------------------------

    def pointer(self, proxy: ProxyId, if_none_match: str = "") -> Pointer | None:
        """The current pointer, or None when none was published (or it is unchanged since `if_none_match`).

        Raises `SourceUnavailable` when the pointer could not be read.
        """
        stored = self._objects.get(pointer_key(proxy), if_none_match=if_none_match)
        if stored is None:
            return None
        return _parsed(f"pointer of {proxy.path}", lambda: pointer_from_document(stored.body, stored.etag))

    def fetch(self, pointer: Pointer) -> Snapshot:
        """The snapshot a pointer names, checked whole (`Snapshot.loads`); raises `SourceUnavailable` if it
        cannot be read or parsed.  A missing body is unavailable, not absent: a pointer names what was written."""
        body = self.fetch_stored(pointer)
        return _parsed(f"snapshot {pointer.key}", lambda: Snapshot.loads(body))

    def fetch_stored(self, pointer: Pointer) -> bytes:
        """The stored bytes of the snapshot a pointer names, unparsed (the ADS server reads them in place)."""
        stored = self._objects.get(pointer.key)
        if stored is None:
            raise SourceUnavailable(f"reading snapshot {pointer.key}: missing")
        return stored.body

    def recent_proxies(self, limit: int) -> list[ProxyId]:
        """The `limit` proxies whose pointers changed last, oldest first: what a starting server preloads."""
        if limit <= 0:
            return []
        found = sorted(self._objects.listed(POINTER_PREFIX))
        proxies = (proxy_of_pointer_key(key) for _, key in found[-limit:])
        return [p for p in proxies if p is not None]


T = TypeVar("T")


def _parsed(what: str, parse: Callable[[], T]) -> T:
    try:
        return parse()
    except (ValueError, KeyError, TypeError, AttributeError) as exc:  # an unreadable body
        raise SourceUnavailable(f"reading {what}: {type(exc).__name__}") from exc
