"""What a first call builds for good is frozen once built (`settled`), so its closing collection walks only the rest."""

from __future__ import annotations

import gc
import weakref
from typing import Any

from meshplane.pipeline.coldstart import first_call_without_gc, settled


class Node:
    other: Any = None


def test_settled_freezes_nothing_outside_a_first_call() -> None:
    frozen = gc.get_freeze_count()
    settled()
    assert gc.get_freeze_count() == frozen


def test_a_first_call_freezes_at_settled_and_still_reclaims_the_cycles_dropped_after_it() -> None:
    kept: list[Node] = []
    calls: list[dict[str, int]] = []
    dropped: list[weakref.ref[Node]] = []

    def handler(event: Any, context: Any) -> int:
        kept.extend(Node() for _ in range(1000))  # what a container keeps: built before the event's work
        before = gc.get_freeze_count()
        settled()
        calls.append({"frozen at settled": gc.get_freeze_count() - before, "young after settled": gc.get_count()[0]})
        a, b = Node(), Node()
        a.other, b.other = b, a  # the event's work drops a cycle: only the collector can free it
        dropped.append(weakref.ref(a))
        return event

    wrapped = first_call_without_gc(handler)
    try:
        assert wrapped(1, None) == 1
        assert wrapped(2, None) == 2
    finally:
        gc.unfreeze()
    first, warm = calls
    assert first["frozen at settled"] >= 1000 and first["young after settled"] < 100
    # settled freezes only during a first call: a freeze would add the 1000 young nodes just built, while other
    # threads of the test process may free frozen objects meanwhile and so only ever lower the count
    assert warm["frozen at settled"] <= 0
    assert dropped[0]() is None
    assert gc.isenabled()
