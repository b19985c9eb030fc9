"""gRPC routes: match on service name, method name and metadata; grpcRetryEvents retry UNAVAILABLE.

The `gold` backend sits behind its own sidecar (grpc listener, HTTP/2 to the app);
the others are reached directly.
"""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from support import GrpcUpstream, Lab, MeshBuilder, Sidecar, grpc_call, listener, target

pytestmark = pytest.mark.envoy

SERVICE = "greeter.grpc.local"
AUTHORITY = f"{SERVICE}:9090"
MAX_RETRIES = 2


def _route(priority: int, backend: str, match: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "priority": priority,
        "grpcRoute": {"match": match, "action": {"weightedTargets": [target(backend)]}, **extra},
    }


@pytest.fixture(scope="module")
def world(lab: Lab) -> tuple[Sidecar, dict[str, GrpcUpstream]]:
    mesh = MeshBuilder("grpc-mesh")
    mesh.node("client", backends=(SERVICE,))
    mesh.router("greeter-router", (9090, "grpc"))
    mesh.service(SERVICE, router="greeter-router")
    gold_only = {"name": "x-tier", "match": {"exact": "gold"}}
    retries = {
        "maxRetries": MAX_RETRIES,
        "perRetryTimeout": {"unit": "s", "value": 2},
        "grpcRetryEvents": ["unavailable"],
    }
    routes = {
        "gold": _route(1, "gold", {"serviceName": "demo.Greeter", "metadata": [gold_only]}),
        "hello": _route(2, "hello", {"serviceName": "demo.Greeter", "methodName": "Hello"}),
        "any": _route(3, "any", {"serviceName": "demo.Greeter"}, retryPolicy=retries),
    }
    for name, spec in routes.items():
        mesh.node(name, listener(9090, "grpc"))
        mesh.route("greeter-router", name, spec)
    gold_ip = lab.place(mesh, "gold")
    servers = {"gold": lab.grpc_app("gold", gold_ip, 9090)}
    for name in ("hello", "any"):
        servers[name] = lab.grpc_app(name, lab.place(mesh, name, sidecar=False), 9090)
    state = mesh.build()
    lab.sidecar(state, "gold", gold_ip)
    return lab.sidecar(state, "client", lab.address()), servers


@pytest.mark.parametrize(
    ("method", "metadata", "expected"),
    [
        ("/demo.Greeter/Hello", {}, "hello"),
        ("/demo.Greeter/Goodbye", {}, "any"),
        ("/demo.Greeter/Hello", {"x-tier": "gold"}, "gold"),
        ("/demo.Greeter/Goodbye", {"x-tier": "gold"}, "gold"),
        ("/demo.Greeter/Hello", {"x-tier": "silver"}, "hello"),
    ],
)
def test_grpc_call_reaches_the_backend_of_the_matching_route(
    world: tuple[Sidecar, dict[str, GrpcUpstream]], method: str, metadata: dict[str, str], expected: str
) -> None:
    client, _ = world
    reply = grpc_call(client.egress, AUTHORITY, method, metadata=metadata)
    assert reply.code is grpc.StatusCode.OK, reply
    assert reply.body is not None and reply.body["name"] == expected
    assert reply.body["method"] == method


def test_call_to_an_unrouted_grpc_service_fails(world: tuple[Sidecar, dict[str, GrpcUpstream]]) -> None:
    client, servers = world
    before = sum(s.hits() for s in servers.values())
    reply = grpc_call(client.egress, AUTHORITY, "/demo.Other/Hello")
    assert reply.code is not grpc.StatusCode.OK
    assert sum(s.hits() for s in servers.values()) == before


def test_unavailable_is_retried_up_to_max_retries(world: tuple[Sidecar, dict[str, GrpcUpstream]]) -> None:
    client, servers = world
    any_ = servers["any"]
    start = any_.hits()
    any_.fail_times = MAX_RETRIES
    assert grpc_call(client.egress, AUTHORITY, "/demo.Greeter/Retry").code is grpc.StatusCode.OK
    assert any_.hits() - start == 1 + MAX_RETRIES
    any_.fail_times = 10
    try:
        assert grpc_call(client.egress, AUTHORITY, "/demo.Greeter/Retry").code is grpc.StatusCode.UNAVAILABLE
        assert any_.hits() - start == 2 * (1 + MAX_RETRIES)
    finally:
        any_.fail_times = 0
