"""A memo a warm container keeps for its life, bounded by a count and cleared whole when full.

Why cleared whole rather than least recently used: what it holds is parsed from stored forms that
are read afresh each time (its key is the stored form), so a miss costs one parse again and nothing
stale can be served; the bound only keeps a container's memory from growing with every item it
ever saw, and a clear is cheaper to keep than an order.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedMemo(Generic[K, V]):
    """`make()` memoised under `key`; every entry dropped once `limit` are held."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._memo: dict[K, V] = {}

    def get(self, key: K, make: Callable[[], V]) -> V:
        found = self._memo.get(key)
        if found is None:
            found = make()
            if len(self._memo) >= self._limit:
                self._memo.clear()
            self._memo[key] = found
        return found

    def __len__(self) -> int:
        return len(self._memo)
