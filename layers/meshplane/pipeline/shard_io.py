"""The shard function's batched writes (ConfigPublished in PutEvents of 10, index entries in BatchWriteItem of
25) and its shared endpoint reads.

Why: a shard publishes up to a hundred proxies, and one PutEvents and one PutItem per
proxy are two of the calls (and much of the time) each proxy cost.  Neither write is
part of the ordering guarantee, which rests on the pointer's conditional advance alone:
- the event is a hint (`publication.event`): readers re-read the pointer, so an event
  sent a few proxies later changes latency only;
- the index entry says what the proxy's last snapshot was built from.  It was always
  written after the pointer moved, not with it; batched, it lands before the shard ends
  (`ShardWorker.run` flushes every round, failed or not).  A shard that dies before
  that leaves the entry as it was, which its SQS retry (its snapshot is then unchanged,
  and an unchanged publish writes the index) or the next reconcile writes again.

Both are safe to share between the shard's publishing threads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol, TypeVar

from meshplane.pipeline.telemetry import Telemetry
from meshplane.store.index import DependencyIndex, IndexEntry
from meshplane.store.reads import BATCH_WRITE_LIMIT

PUT_EVENTS_LIMIT = 10  # entries per PutEvents call, EventBridge's maximum
V = TypeVar("V")


class Flushable(Protocol):
    def flush(self) -> None:
        """Send everything still held."""
        ...


class EventBatch:
    """The `put_events` the Publisher calls, sent on in PutEvents calls of 10 entries."""

    def __init__(self, events: Any, telemetry: Telemetry, size: int = PUT_EVENTS_LIMIT) -> None:
        self._events = events
        self._t = telemetry
        self._size = size
        self._held: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        """Hold the entries, sending every full batch; failures are reported when a batch is sent."""
        with self._lock:
            self._held.extend(Entries)
            full = self._take(self._size) if len(self._held) >= self._size else []
        self._send(full)
        return {"FailedEntryCount": 0, "Entries": []}

    def flush(self) -> None:
        with self._lock:
            held = self._take(len(self._held))
        self._send(held)

    def _take(self, count: int) -> list[dict[str, Any]]:
        taken, self._held = self._held[:count], self._held[count:]
        return taken

    def _send(self, entries: list[dict[str, Any]]) -> None:
        for start in range(0, len(entries), self._size):
            batch = entries[start:start + self._size]
            response = self._events.put_events(Entries=batch)
            if response.get("FailedEntryCount"):
                # The pointers already moved, so delivery still converges on its next poll; say so loudly.
                self._t.count("ConfigPublishedFailed", int(response["FailedEntryCount"]))
                self._t.logger.error("ConfigPublished not accepted by the bus", extra={
                    "entries": [{"detail": e.get("Detail"), **r} for e, r in zip(batch, response.get("Entries", []),
                                                                               strict=False) if r.get("ErrorCode")]})


class BatchedIndex(DependencyIndex):
    """The dependency index with `put` held back and written in BatchWriteItem calls of 25 entries."""

    def __init__(self, table: str, client: Any, size: int = BATCH_WRITE_LIMIT) -> None:
        super().__init__(table, client)
        self._size = size
        self._held: dict[str, list[IndexEntry]] = {}
        self._lock = threading.Lock()

    def put(self, mesh: str, node_path: str, deps: Iterable[str], endpoint_deps: Iterable[str]) -> bool:
        """Hold the entry (False, nothing held, when the last `entries` read held exactly it)."""
        entry = IndexEntry(node_path, frozenset(deps), frozenset(endpoint_deps))
        if self._read.get(mesh, {}).get(node_path) == entry:
            return False
        with self._lock:
            held = self._held.setdefault(mesh, [])
            held.append(entry)
            full = held[:] if len(held) >= self._size else []
            if full:
                held.clear()
        if full:
            self.put_many(mesh, full)
        return True

    def flush(self) -> None:
        with self._lock:
            held, self._held = self._held, {}
        for mesh, entries in held.items():
            self.put_many(mesh, entries)


class OnceEach(Mapping[str, V]):
    """A lazily read mapping shared by a shard's publishing threads: each key is read once, however many ask.

    Why: every caller of a hot route needs the endpoints of its targets, and a shard's threads
    start together, so without this each thread would send its own Query for the same node.
    A key's askers wait for its one read; a read that raises (KeyError for an unknown node) is
    not kept, so the next asker reads again.
    """

    def __init__(self, inner: Mapping[str, V]) -> None:
        self._inner = inner
        self._known: dict[str, V] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def __getitem__(self, key: str) -> V:
        try:
            return self._known[key]
        except KeyError:
            pass
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._known:
                self._known[key] = self._inner[key]
            return self._known[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._inner)

    def __len__(self) -> int:
        return len(self._inner)
