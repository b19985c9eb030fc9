"""A gateway listener health check the gateway cannot answer itself is reported, not faked."""

from __future__ import annotations

from typing import Any

import pytest
from meshplane.graph import resolve
from meshplane.model.ids import Kind, ProxyId
from support import MeshBuilder

PORT = 8080


def _view(check: dict[str, Any]):
    mesh = MeshBuilder("gwhc-graph")
    port_mapping = {"port": PORT, "protocol": "http"}
    base = {"intervalMillis": 5000, "timeoutMillis": 2000, "healthyThreshold": 2, "unhealthyThreshold": 2}
    mesh.gateway("edge", {"listeners": [{"portMapping": port_mapping, "healthCheck": {**base, **check}}]})
    view, _ = resolve(mesh.build(), ProxyId("gwhc-graph", Kind.VIRTUAL_GATEWAY, "edge"))
    return view


def test_an_http_check_on_the_listener_port_is_kept_for_the_listener() -> None:
    view = _view({"protocol": "http", "path": "/ping"})
    assert view.listeners[0].health_check is not None and view.listeners[0].health_check.path == "/ping"
    assert view.problems == ()


@pytest.mark.parametrize(
    ("check", "reason"),
    [
        ({"protocol": "grpc"}, "over grpc"),
        ({"protocol": "http2"}, "has no path"),
        ({"protocol": "http", "path": "/ping", "port": PORT + 1}, "is not the listener port"),
    ],
)
def test_a_check_the_gateway_cannot_answer_is_a_problem(check: dict[str, Any], reason: str) -> None:
    view = _view(check)
    assert view.listeners[0].health_check is None
    assert len(view.problems) == 1 and reason in view.problems[0], view.problems
