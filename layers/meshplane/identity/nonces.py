"""Nonces this server has accepted, kept until the proofs carrying them are too old to be accepted anyway."""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable


class NoncesFull(RuntimeError):
    """So many proofs within one acceptance window that the cache would have to forget a live one."""


class NonceCache:
    """A bounded set of nonces, each kept until its own expiry.

    Forgetting a nonce before its proof expires would let that proof be replayed, so a
    full cache refuses new nonces (`NoncesFull`) instead of evicting live ones.
    """

    def __init__(self, max_entries: int = 100_000, clock: Callable[[], float] = time.time) -> None:
        self._max = max_entries
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._expiry)

    def claim(self, nonce: str, expires_at: float) -> bool:
        """True the first time a nonce is claimed (until it expires), False for a replay."""
        with self._lock:
            now = self._clock()
            while self._heap and self._heap[0][0] <= now:
                _, old = heapq.heappop(self._heap)
                if self._expiry.get(old, now + 1) <= now:
                    del self._expiry[old]
            if nonce in self._expiry:
                return False
            if len(self._expiry) >= self._max:
                raise NoncesFull(f"{self._max} proofs accepted within the replay window")
            self._expiry[nonce] = expires_at
            heapq.heappush(self._heap, (expires_at, nonce))
            return True
