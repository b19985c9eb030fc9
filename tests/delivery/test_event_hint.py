"""A ConfigPublished event's snapshot key is read while the pointer is: the pointer still decides what is served."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

from meshplane.delivery.cache import SnapshotCache
from meshplane.delivery.metrics import Metrics
from meshplane.model.ids import ProxyId
from meshplane.publication.pointer import Pointer
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.types import XdsType

from .snapshots import snapshot

NODE = "mesh/m/virtualNode/front"
PROXY = ProxyId.parse(NODE)
WAIT_S = 2.0


class Source:
    """Snapshots by key; the pointer read waits (a while at most) for a body read to begin, as a slow GET would."""

    def __init__(self) -> None:
        self.bodies: dict[str, Snapshot] = {}
        self.current = ""
        self.reads: Counter[str] = Counter()
        self.body_read = threading.Event()
        self.overlapped = False

    def publish(self, tag: str) -> str:
        self.bodies[tag] = snapshot(NODE, tag)
        self.current = tag
        return tag

    def pointer(self, proxy: ProxyId) -> Pointer | None:
        self.overlapped = self.body_read.wait(WAIT_S)
        return Pointer(self.bodies[self.current].version, self.current)

    def fetch(self, pointer: Pointer) -> Snapshot:
        self.reads[pointer.key] += 1
        self.body_read.set()
        return self.bodies[pointer.key]


async def served(source: Source, hint: str) -> tuple[SnapshotCache, list[str]]:
    cache = SnapshotCache(source, Metrics(), retain=10)  # type: ignore[arg-type]  # reads on worker threads
    source.publish("a")
    source.body_read.set()
    await cache.refresh(PROXY)  # held warm at "a"
    source.body_read.clear()
    source.reads.clear()
    source.publish("b")
    await cache.refresh(PROXY, hint)
    view = await cache.watch(PROXY, lambda _changed: None)
    return cache, sorted(view.types[XdsType.CLUSTERS].resources)


def test_the_key_an_event_names_is_read_while_the_pointer_is_and_read_once() -> None:
    source = Source()
    _, clusters = asyncio.run(served(source, hint="b"))
    assert source.overlapped
    assert clusters == ["cds_b_1", "cds_b_2"]
    assert source.reads == Counter({"b": 1})


def test_a_stale_event_key_is_read_but_the_pointer_decides_what_is_served() -> None:
    source = Source()
    source.bodies["old"] = snapshot(NODE, "old")
    _, clusters = asyncio.run(served(source, hint="old"))
    assert clusters == ["cds_b_1", "cds_b_2"]
    assert source.reads == Counter({"old": 1, "b": 1})


def test_an_unreadable_event_key_falls_back_to_the_pointer() -> None:
    source = Source()
    _, clusters = asyncio.run(served(source, hint="never-written"))
    assert clusters == ["cds_b_1", "cds_b_2"]
    assert source.reads["b"] == 1
