"""Backends the egress listener cannot tell apart by port are reported, never dropped silently."""

from __future__ import annotations

import logging

import pytest
from meshplane.graph import names, resolve
from meshplane.model.ids import Kind, ProxyId
from meshplane.model.state import MeshState
from meshplane.snapshot.types import XdsType
from meshplane.translate import problems, translate
from support import MeshBuilder, listener


def _mesh(*backends: tuple[str, int, str]) -> MeshState:
    """`caller` calls each (service, port, protocol), each provided by its own node."""
    mesh = MeshBuilder("clash-mesh")
    mesh.node("caller", backends=tuple(service for service, _, _ in backends))
    for i, (service, port, protocol) in enumerate(backends):
        mesh.node(f"provider-{i}", listener(port, protocol))
        mesh.service(service, node=f"provider-{i}")
    return mesh.build()


CALLER = ProxyId("clash-mesh", Kind.VIRTUAL_NODE, "caller")


def test_two_tcp_backends_on_one_port_name_both_services() -> None:
    state = _mesh(("db-a.local", 5432, "tcp"), ("db-b.local", 5432, "tcp"))
    view, _ = resolve(state, CALLER)
    clash = [p for p in view.problems if "5432" in p]
    assert len(clash) == 1 and "'db-a.local'" in clash[0] and "'db-b.local'" in clash[0], view.problems


def test_an_http_and_a_tcp_backend_on_one_port_name_both_services() -> None:
    state = _mesh(("web.local", 8080, "http"), ("raw.local", 8080, "tcp"))
    clash = [p for p in problems(state, CALLER) if "8080" in p]
    assert len(clash) == 1 and "'web.local'" in clash[0] and "'raw.local'" in clash[0]
    assert "only 'web.local' is reachable" in clash[0]


def test_backends_on_distinct_ports_report_nothing() -> None:
    state = _mesh(("web.local", 8080, "http"), ("db.local", 5432, "tcp"), ("cache.local", 6379, "tcp"))
    assert problems(state, CALLER) == ()


def test_http_backends_sharing_a_port_are_told_apart_by_host_and_report_nothing() -> None:
    state = _mesh(("a.local", 8080, "http"), ("b.local", 8080, "http"))
    assert problems(state, CALLER) == ()


def test_translate_logs_the_clash_and_still_renders_the_reachable_chain(caplog: pytest.LogCaptureFixture) -> None:
    state = _mesh(("db-a.local", 5432, "tcp"), ("db-b.local", 5432, "tcp"))
    with caplog.at_level(logging.WARNING, logger="meshplane.translate"):
        snapshot = translate(state, CALLER)
    logged = [r for r in caplog.records if getattr(r, "nodeId", None) == CALLER.path]
    assert logged and any("db-b.local" in p for p in logged[0].problems)
    egress = snapshot.of(XdsType.LISTENERS)[names.egress_listener()]
    assert [c.name for c in egress.filter_chains].count("tcp_5432") == 1
