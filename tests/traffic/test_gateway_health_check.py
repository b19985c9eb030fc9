"""A virtual gateway listener's `healthCheck` is the gateway's own health: a load balancer in
front (an NLB, say) asks the gateway on that path, and the gateway answers it itself.

It answers 200 while it serves without touching any backend, and 503 once Envoy is failing or
draining, so the load balancer takes it out of rotation before it goes away.  Every other path
still goes through the gateway routes.
"""

from __future__ import annotations

import pytest
from support import HttpUpstream, Lab, MeshBuilder, Sidecar, http_request, listener

pytestmark = pytest.mark.envoy

GATEWAY_PORT = 8089
HEALTH_PATH = "/gateway-health"
APP = "app.gwhc.local"
HEALTH_CHECK = {
    "protocol": "http",
    "path": HEALTH_PATH,
    "port": GATEWAY_PORT,
    "intervalMillis": 5000,
    "timeoutMillis": 2000,
    "healthyThreshold": 2,
    "unhealthyThreshold": 2,
}


@pytest.fixture(scope="module")
def world(lab: Lab) -> tuple[Sidecar, HttpUpstream]:
    mesh = MeshBuilder("gwhc-mesh")
    port_mapping = {"port": GATEWAY_PORT, "protocol": "http"}
    mesh.gateway("edge", {"listeners": [{"portMapping": port_mapping, "healthCheck": HEALTH_CHECK}]})
    target = {"target": {"virtualService": {"virtualServiceName": APP}}}
    mesh.gateway_route("edge", "all", {"httpRoute": {"match": {"prefix": "/"}, "action": target}})
    mesh.node("app", listener(8080))
    mesh.service(APP, node="app")
    app = lab.direct_http_app(mesh, "app", "app")
    return lab.sidecar(mesh.build(), "edge", lab.address(), gateway=True), app


def test_the_gateway_answers_its_health_path_itself(world: tuple[Sidecar, HttpUpstream]) -> None:
    gateway, app = world
    before = app.hits()
    reply = http_request(gateway.port(GATEWAY_PORT), "lb.example.com", HEALTH_PATH)
    assert reply.status == 200 and reply.upstream is None
    assert app.hits() == before


def test_other_paths_still_follow_the_gateway_routes(world: tuple[Sidecar, HttpUpstream]) -> None:
    gateway, _ = world
    reply = http_request(gateway.port(GATEWAY_PORT), "www.example.com", "/gateway-health/not-exact")
    assert reply.status == 200 and reply.upstream == "app"


def test_a_failing_gateway_reports_unhealthy_but_keeps_serving_routes(world: tuple[Sidecar, HttpUpstream]) -> None:
    gateway, _ = world
    status, _ = gateway.envoy.admin_post("/healthcheck/fail")
    assert status == 200
    try:
        assert http_request(gateway.port(GATEWAY_PORT), "lb.example.com", HEALTH_PATH).status == 503
        assert http_request(gateway.port(GATEWAY_PORT), "www.example.com", "/x").upstream == "app"
    finally:
        gateway.envoy.admin_post("/healthcheck/ok")
    assert http_request(gateway.port(GATEWAY_PORT), "lb.example.com", HEALTH_PATH).status == 200
