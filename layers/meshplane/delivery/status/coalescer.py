"""Which Envoy status items to write now: latest state wins, bounded per Envoy and per server.

Under churn an Envoy acknowledges four or five types per change and a server holds
thousands of streams, so one write per ACK would cost more than the config it reports.
Every offered status replaces the pending one of the same Envoy (its item key), and:
- a new pending state waits `settle_seconds` (a change's ACKs arrive together: one write);
- an Envoy's item is written at most once per `interval_seconds`;
- a NACK is urgent: written after `nack_spacing_seconds` since that Envoy's last write
  at most, ahead of every other state, so a rejection shows within seconds;
- the whole server writes at most `writes_per_second` items (a token bucket of `burst`);
- a connected Envoy's item is rewritten every `heartbeat_seconds`, so a live stream's item
  never expires and a dead server's items stop counting as connected (`store.proxy_status`).

Pure: the clock is given, nothing is written here (`writer` does).
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from meshplane.store.proxy_status import HEARTBEAT_SECONDS, EnvoyStatus

Key = tuple[str, str]


@dataclass(frozen=True)
class WriteBounds:
    settle_seconds: float = 1.0
    interval_seconds: float = 10.0
    nack_spacing_seconds: float = 1.0
    writes_per_second: float = 25.0  # one full BatchWriteItem a second
    burst: int = 25
    heartbeat_seconds: float = HEARTBEAT_SECONDS


@dataclass
class _Envoy:
    latest: EnvoyStatus
    pending_since: float | None  # when the unwritten state was first offered; None: written
    urgent: bool = False
    written_at: float | None = None
    due: float = 0.0
    scheduled: int = -1  # the heap entry that counts; earlier ones are stale


class Coalescer:
    """Pending Envoy states by item key, handed out (`take`) when due and within the write budget."""

    def __init__(self, bounds: WriteBounds | None = None, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:  # fmt: skip
        """`clock` orders the writes; `wall` stamps `seen` (items carry epoch seconds)."""
        self.bounds = bounds or WriteBounds()
        self._clock = clock
        self._wall = wall
        self._envoys: dict[Key, _Envoy] = {}
        self._urgent: list[tuple[float, int, Key]] = []
        self._normal: list[tuple[float, int, Key]] = []
        self._seq = itertools.count()
        self._tokens = float(self.bounds.burst)
        self._refilled = self._clock()

    def __len__(self) -> int:
        return len(self._envoys)

    def offer(self, status: EnvoyStatus, *, urgent: bool = False) -> None:
        """The Envoy's state now; `urgent` for a NACK. A disconnect of a connection that is no longer
        the item's (the Envoy reconnected first) changes nothing."""
        now = self._clock()
        envoy = self._envoys.get(status.key)
        if envoy is None:
            envoy = self._envoys[status.key] = _Envoy(status, now)
        elif not status.connected and envoy.latest.connected and envoy.latest.connection != status.connection:
            return
        else:
            envoy.latest = status
            if envoy.pending_since is None:
                envoy.pending_since = now
        envoy.urgent = envoy.urgent or urgent
        self._schedule(status.key, envoy)

    def _schedule(self, key: Key, envoy: _Envoy) -> None:
        b = self.bounds
        last = envoy.written_at
        if envoy.pending_since is None:
            if not envoy.latest.connected:
                return
            assert last is not None
            due = last + b.heartbeat_seconds
        elif envoy.urgent:
            due = envoy.pending_since if last is None else max(envoy.pending_since, last + b.nack_spacing_seconds)
        else:
            due = envoy.pending_since + b.settle_seconds
            if last is not None:
                due = max(due, last + b.interval_seconds)
        envoy.due, envoy.scheduled = due, next(self._seq)
        heapq.heappush(self._urgent if envoy.urgent else self._normal, (due, envoy.scheduled, key))

    def _current(self, heap: list[tuple[float, int, Key]]) -> tuple[float, int, Key] | None:
        """The heap's earliest entry that still counts, stale ones dropped on the way."""
        while heap:
            _due, seq, key = heap[0]
            envoy = self._envoys.get(key)
            if envoy is not None and envoy.scheduled == seq:
                return heap[0]
            heapq.heappop(heap)
        return None

    def next_due(self) -> float | None:
        """Seconds until something may be taken (0: now), None when nothing is scheduled."""
        due = [entry[0] for heap in (self._urgent, self._normal) if (entry := self._current(heap)) is not None]
        if not due:
            return None
        wait = max(0.0, min(due) - self._clock())
        if self._tokens < 1:
            wait = max(wait, (1 - self._tokens) / self.bounds.writes_per_second)
        return wait

    def take(self) -> list[EnvoyStatus]:
        """The states due now, urgent first, as many as the write budget allows; each counts as written."""
        now = self._clock()
        self._tokens = min(self.bounds.burst, self._tokens + (now - self._refilled) * self.bounds.writes_per_second)
        self._refilled = now
        out: list[EnvoyStatus] = []
        for heap in (self._urgent, self._normal):
            while self._tokens >= 1 and (entry := self._current(heap)) is not None and entry[0] <= now:
                _due, _seq, key = heapq.heappop(heap)
                self._tokens -= 1
                out.append(self._written(key, self._envoys[key], now))
        return out

    def _written(self, key: Key, envoy: _Envoy, now: float) -> EnvoyStatus:
        status = envoy.latest
        if status.connected:
            status = envoy.latest = replace(status, seen=max(status.seen, self._wall()))
        envoy.pending_since, envoy.urgent, envoy.written_at = None, False, now
        if status.connected:
            self._schedule(key, envoy)
        else:
            del self._envoys[key]
        return status

    def failed(self, statuses: list[EnvoyStatus]) -> None:
        """Writes that did not happen: offered again unless a newer state came meanwhile."""
        for status in statuses:
            envoy = self._envoys.get(status.key)
            if envoy is None:
                self._envoys[status.key] = _Envoy(status, self._clock())
                self._schedule(status.key, self._envoys[status.key])
            elif envoy.pending_since is None:
                envoy.pending_since = self._clock()
                self._schedule(status.key, envoy)

    def drain(self) -> list[EnvoyStatus]:
        """Every state not yet written, regardless of bounds (the server is stopping)."""
        out = [e.latest for e in self._envoys.values() if e.pending_since is not None]
        self._envoys.clear()
        self._urgent.clear()
        self._normal.clear()
        return out
