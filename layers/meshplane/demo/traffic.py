"""Steady client traffic through the gateway, every response recorded with its time.

Each worker keeps one keep-alive connection and reconnects after any error, so a
connection reset counts as one failed request, exactly as a user would see it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from meshplane.localnet.waiting import poll


@dataclass(frozen=True)
class Sample:
    """One request: when it finished, the HTTP status (0 = no response) and who answered."""

    at: float  # time.monotonic() at completion
    status: int
    color: str  # virtual node that answered behind front ("blue"/"green"), "" when none
    instance: str
    latency: float


def _parse(status: int, raw: bytes) -> tuple[str, str]:
    try:
        backend = json.loads(raw).get("backend", {})
        return str(backend.get("service", "")), str(backend.get("instance", ""))
    except (ValueError, AttributeError):
        return "", ""


class TrafficGenerator:
    """`workers` threads each sending GET / to `host:port` at about `rate_per_worker` req/s."""

    def __init__(self, host: str, port: int, *, workers: int = 2, rate_per_worker: float = 25.0) -> None:
        self._target = (host, port)
        self._workers = workers
        self._interval = 1.0 / rate_per_worker
        self._samples: list[Sample] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for index in range(self._workers):
            thread = threading.Thread(target=self._run, name=f"traffic-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)
        self._threads.clear()

    def _run(self) -> None:
        connection: http.client.HTTPConnection | None = None
        next_at = time.monotonic()
        while not self._stop.is_set():
            started = time.monotonic()
            status, raw = 0, b""
            try:
                if connection is None:
                    connection = http.client.HTTPConnection(*self._target, timeout=15)
                connection.request("GET", "/")
                response = connection.getresponse()
                status, raw = response.status, response.read()
                if response.getheader("connection", "").lower() == "close":
                    connection.close()
                    connection = None
            except (OSError, http.client.HTTPException):
                if connection is not None:
                    connection.close()
                connection = None
            color, instance = _parse(status, raw) if status == 200 else ("", "")
            finished = time.monotonic()
            with self._lock:
                self._samples.append(Sample(finished, status, color, instance, finished - started))
            next_at = max(next_at + self._interval, finished)
            self._stop.wait(max(0.0, next_at - time.monotonic()))
        if connection is not None:
            with contextlib.suppress(OSError):
                connection.close()

    def samples(self, since: float = 0.0, until: float | None = None) -> list[Sample]:
        with self._lock:
            return [s for s in self._samples if s.at >= since and (until is None or s.at <= until)]

    def count(self) -> int:
        with self._lock:
            return len(self._samples)

    def wait_for(self, n: int, since: float, timeout: float,
                 progress: Callable[[list[Sample]], None] | None = None) -> list[Sample]:  # fmt: skip
        """Block until `n` responses completed after `since`; returns them (fewer on timeout)."""

        def enough() -> list[Sample] | None:
            got = self.samples(since)
            if progress is not None:
                progress(got[:n])
            return got[:n] if len(got) >= n else None

        return poll(enough, timeout, interval=0.1) or self.samples(since)


@dataclass(frozen=True)
class Split:
    """The measured outcome of a window of requests."""

    total: int
    ok: int
    failed: int
    by_color: dict[str, int]
    by_instance: dict[str, int]

    @classmethod
    def of(cls, samples: list[Sample]) -> Split:
        ok = [s for s in samples if s.status == 200 and s.color]
        return cls(
            total=len(samples),
            ok=len(ok),
            failed=len(samples) - len(ok),
            by_color=dict(Counter(s.color for s in ok)),
            by_instance=dict(Counter(s.instance for s in ok)),
        )

    def share(self, color: str) -> float:
        return self.by_color.get(color, 0) / self.ok if self.ok else 0.0
