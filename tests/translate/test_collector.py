"""Translation pauses CPython's cyclic collector only for its own duration."""

from __future__ import annotations

import gc

import pytest
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
