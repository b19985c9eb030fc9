"""Retry policies, counted at the upstream: 503s turn into success, and maxRetries bounds the attempts.

`explicit` has a route retryPolicy (server-error, maxRetries 3); `implicit` has none, so
App Mesh's hidden default applies (503 and connection errors, 2 retries).
"""

from __future__ import annotations

import pytest
from support import HttpUpstream, Lab, MeshBuilder, Sidecar, http_request, listener, target

pytestmark = pytest.mark.envoy

EXPLICIT = "explicit.retry.local"
IMPLICIT = "implicit.retry.local"
MAX_RETRIES = 3
DEFAULT_RETRIES = 2


@pytest.fixture(scope="module")
def apps(lab: Lab) -> dict[str, HttpUpstream]:
    mesh = MeshBuilder("retry-mesh")
    mesh.node("client", backends=(EXPLICIT, IMPLICIT))
    mesh.node("explicit", listener(8080))
    mesh.node("implicit", listener(8080))
    mesh.router("explicit-router", 8080)
    mesh.route(
        "explicit-router",
        "with-retries",
        {
            "httpRoute": {
                "match": {"prefix": "/"},
                "action": {"weightedTargets": [target("explicit")]},
                "retryPolicy": {
                    "maxRetries": MAX_RETRIES,
                    "perRetryTimeout": {"unit": "s", "value": 2},
                    "httpRetryEvents": ["server-error"],
                },
            }
        },
    )
    mesh.service(EXPLICIT, router="explicit-router")
    mesh.service(IMPLICIT, node="implicit")
    servers = {
        name: lab.direct_http_app(mesh, name, name) for name in ("explicit", "implicit")
    }
    servers["client"] = lab.sidecar(mesh.build(), "client", lab.address())  # type: ignore[assignment]
    return servers


@pytest.fixture
def client(apps: dict[str, HttpUpstream]) -> Sidecar:
    for app in apps.values():
        if isinstance(app, HttpUpstream):
            app.reset()
    return apps["client"]  # type: ignore[return-value]


def test_two_503s_then_success_reach_the_client_as_success(client: Sidecar, apps: dict[str, HttpUpstream]) -> None:
    apps["explicit"].behave(fail_times=2, fail_status=503)
    reply = http_request(client.egress, f"{EXPLICIT}:8080", "/pay")
    assert reply.status == 200 and reply.upstream == "explicit"
    assert apps["explicit"].hits() == 3


def test_max_retries_bounds_attempts_on_a_persistently_failing_upstream(
    client: Sidecar, apps: dict[str, HttpUpstream]
) -> None:
    apps["explicit"].behave(status=503)
    reply = http_request(client.egress, f"{EXPLICIT}:8080", "/pay")
    assert reply.status == 503
    assert apps["explicit"].hits() == 1 + MAX_RETRIES


def test_server_error_event_also_retries_500(client: Sidecar, apps: dict[str, HttpUpstream]) -> None:
    apps["explicit"].behave(fail_times=1, fail_status=500)
    assert http_request(client.egress, f"{EXPLICIT}:8080", "/pay").status == 200
    assert apps["explicit"].hits() == 2


def test_default_policy_retries_503_twice(client: Sidecar, apps: dict[str, HttpUpstream]) -> None:
    apps["implicit"].behave(status=503)
    assert http_request(client.egress, f"{IMPLICIT}:8080", "/").status == 503
    assert apps["implicit"].hits() == 1 + DEFAULT_RETRIES
    apps["implicit"].reset()
    apps["implicit"].behave(fail_times=2, fail_status=503)
    assert http_request(client.egress, f"{IMPLICIT}:8080", "/").status == 200
    assert apps["implicit"].hits() == 3


def test_default_policy_does_not_retry_500(client: Sidecar, apps: dict[str, HttpUpstream]) -> None:
    apps["implicit"].behave(status=500)
    assert http_request(client.egress, f"{IMPLICIT}:8080", "/").status == 500
    assert apps["implicit"].hits() == 1
