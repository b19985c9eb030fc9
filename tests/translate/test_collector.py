"""Translation pauses CPython's cyclic collector only while translations run, however many threads run them."""

from __future__ import annotations

import gc
import threading

import pytest
from meshplane.gc_pause import collector_paused
from meshplane.model.ids import Kind, ProxyId
from meshplane.model.state import MeshState
from meshplane.translate import UnknownProxyError, translate
from support import MeshBuilder, listener

MESH = "collector"


def _state() -> MeshState:
    return MeshBuilder(MESH).node("solo", listener(8080)).build()


def test_the_collector_is_enabled_again_after_a_translation() -> None:
    assert gc.isenabled()
    translate(_state(), ProxyId(MESH, Kind.VIRTUAL_NODE, "solo"))
    assert gc.isenabled()


def test_the_collector_is_enabled_again_when_the_proxy_is_unknown() -> None:
    with pytest.raises(UnknownProxyError):
        translate(_state(), ProxyId(MESH, Kind.VIRTUAL_NODE, "nobody"))
    assert gc.isenabled()


def test_a_caller_that_disabled_the_collector_keeps_it_disabled() -> None:
    gc.disable()
    try:
        translate(_state(), ProxyId(MESH, Kind.VIRTUAL_NODE, "solo"))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_threads_that_translate_together_keep_the_collector_paused_until_the_last_one_leaves() -> None:
    entered, first_left, second_may_leave = threading.Barrier(2), threading.Event(), threading.Event()
    seen: list[bool] = []

    def first() -> None:
        with collector_paused():
            entered.wait()
        first_left.set()

    def second() -> None:
        with collector_paused():
            entered.wait()
            first_left.wait()
            seen.append(gc.isenabled())  # the first has left: still paused, since this one translates on
            second_may_leave.wait()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_left.wait(5)
    second_may_leave.set()
    for thread in threads:
        thread.join(5)
    assert seen == [False] and gc.isenabled()


def test_a_pause_inside_a_pause_leaves_the_collector_to_the_outer_one() -> None:
    with collector_paused():
        with collector_paused():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()
