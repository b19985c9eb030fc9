"""A shard's publishing threads share each node's endpoint read (`shard_io.OnceEach`)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping

import pytest
from meshplane.pipeline.shard_io import OnceEach

THREADS = 8


class SlowReads(Mapping[str, int]):
    """Each read is counted and held until released, so reads that overlap are seen overlapping."""

    def __init__(self) -> None:
        self.reads = 0
        self.changed = threading.Condition()
        self.release = threading.Event()

    def __getitem__(self, key: str) -> int:
        if key != "known":
            raise KeyError(key)
        with self.changed:
            self.reads += 1
            self.changed.notify_all()
        assert self.release.wait(timeout=30)
        return 7

    def __iter__(self) -> Iterator[str]:
        return iter(["known"])

    def __len__(self) -> int:
        return 1


def test_threads_asking_for_one_node_together_share_its_one_read() -> None:
    inner = SlowReads()
    shared = OnceEach(inner)
    start = threading.Barrier(THREADS + 1)
    answers: list[int] = []

    def ask() -> None:
        start.wait()
        answers.append(shared["known"])

    threads = [threading.Thread(target=ask) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    start.wait()
    with inner.changed:
        inner.changed.wait_for(lambda: inner.reads >= 1, timeout=30)
        # Without sharing, every asker is inside its own read by now or soon: give them the chance.
        inner.changed.wait_for(lambda: inner.reads >= 2, timeout=0.5)
    inner.release.set()
    for thread in threads:
        thread.join(timeout=30)
    assert inner.reads == 1
    assert answers == [7] * THREADS
    assert shared["known"] == 7 and inner.reads == 1  # kept after the first read


def test_an_unknown_node_is_refused_and_nothing_is_kept() -> None:
    inner = SlowReads()
    inner.release.set()
    shared = OnceEach(inner)
    with pytest.raises(KeyError):
        shared["gone"]
    assert list(shared) == ["known"] and len(shared) == 1
