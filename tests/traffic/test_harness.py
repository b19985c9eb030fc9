"""The harness itself: real Envoy lifecycle, loopback addressing, upstream behaviours, CA and clients."""

from __future__ import annotations

import os
import ssl
import threading
from pathlib import Path
from typing import Any

import grpc
import pytest
from support import (
    EnvoyError,
    EnvoyRunner,
    GrpcUpstream,
    HttpUpstream,
    LoopbackPool,
    TcpEchoUpstream,
    TestCA,
    grpc_call,
    http_request,
    serving,
    tcp_exchange,
    tls_context,
    validate,
)
from support.ports import free_port

pytestmark = pytest.mark.envoy


def _proxy_bootstrap(address: str, listen_port: int, upstream: tuple[str, int]) -> dict[str, Any]:
    """A minimal static Envoy: one HTTP listener routing everything to one upstream."""
    return {
        "admin": {"address": {"socket_address": {"address": address, "port_value": 0}}},
        "static_resources": {
            "listeners": [
                {
                    "name": "front",
                    "address": {"socket_address": {"address": address, "port_value": listen_port}},
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "typed_config": {
                                        "@type": "type.googleapis.com/envoy.extensions.filters.network."
                                        "http_connection_manager.v3.HttpConnectionManager",
                                        "stat_prefix": "front",
                                        "route_config": {
                                            "virtual_hosts": [
                                                {
                                                    "name": "all",
                                                    "domains": ["*"],
                                                    "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "app"}}],
                                                }
                                            ]
                                        },
                                        "http_filters": [
                                            {
                                                "name": "envoy.filters.http.router",
                                                "typed_config": {
                                                    "@type": "type.googleapis.com/envoy.extensions.filters.http."
                                                    "router.v3.Router"
                                                },
                                            }
                                        ],
                                    },
                                }
                            ]
                        }
                    ],
                }
            ],
            "clusters": [
                {
                    "name": "app",
                    "type": "STATIC",
                    "connect_timeout": "1s",
                    "load_assignment": {
                        "cluster_name": "app",
                        "endpoints": [
                            {
                                "lb_endpoints": [
                                    {
                                        "endpoint": {
                                            "address": {
                                                "socket_address": {"address": upstream[0], "port_value": upstream[1]}
                                            }
                                        }
                                    }
                                ]
                            }
                        ],
                    },
                }
            ],
        },
    }


@pytest.fixture
def pool(tmp_path: Path) -> LoopbackPool:
    return LoopbackPool(tmp_path / "locks")


def test_loopback_addresses_are_unique_and_reusable_after_release(pool: LoopbackPool, tmp_path: Path) -> None:
    rival = LoopbackPool(tmp_path / "locks")  # a second open file description: flock treats it as a rival
    start = pool._cursor
    rival._cursor = start  # both scan the same range, the worst case for collisions
    mine = {pool.allocate() for _ in range(20)}
    theirs = {rival.allocate() for _ in range(20)}
    assert len(mine) == 20 and len(theirs) == 20
    assert not mine & theirs
    assert all(a.startswith("127.") for a in mine)
    released = sorted(mine)[0]
    pool.release(released)
    rival._cursor = start  # scan mine again: only the released address is claimable there
    assert rival.allocate() == released


def test_envoy_proxies_to_an_upstream_and_stops_with_its_process_group(pool: LoopbackPool, tmp_path: Path) -> None:
    address = pool.allocate()
    app = HttpUpstream("app-1", address, 0)
    runner = EnvoyRunner(tmp_path)
    port = free_port(address)
    with serving(app):
        try:
            envoy = runner.start(_proxy_bootstrap(address, port, app.address), name="front")
            replies = [http_request((address, port), "anything", f"/n{i}") for i in range(5)]
            assert [r.status for r in replies] == [200] * 5
            assert {r.json["name"] for r in replies} == {"app-1"}
            assert app.hits() == 5
            assert envoy.stat("cluster.app.upstream_rq_200") == 5
            assert envoy.healthy_hosts("app") == {f"{app.address[0]}:{app.address[1]}"}
            assert "front" in envoy.listener_names()
            assert envoy.config_dump()["configs"]
        finally:
            runner.close()
    assert not envoy.running
    with pytest.raises(ProcessLookupError):
        os.killpg(envoy.process.pid, 0)


def test_envoy_that_rejects_its_config_fails_fast_with_its_reason(tmp_path: Path) -> None:
    broken = _proxy_bootstrap("127.0.0.1", 0, ("127.0.0.1", 1))
    broken["static_resources"]["clusters"][0]["type"] = "NOT_A_TYPE"
    with pytest.raises(EnvoyError, match="NOT_A_TYPE"):
        validate(broken, tmp_path)
    with pytest.raises(EnvoyError, match="NOT_A_TYPE"):
        EnvoyRunner(tmp_path).start(broken, ready_timeout=20)


def test_http_upstream_fails_n_times_then_succeeds_and_counts_hits(pool: LoopbackPool) -> None:
    app = HttpUpstream("flaky", pool.allocate())
    with serving(app):
        app.behave(fail_times=2, fail_status=503)
        app.behave("/health", status=500)
        statuses = [http_request(app.address, "x", "/work").status for _ in range(4)]
        assert statuses == [503, 503, 200, 200]
        assert http_request(app.address, "x", "/health").status == 500
        assert http_request(app.address, "x", "/", headers={"x-upstream-status": "418"}).status == 418
        slow = http_request(app.address, "x", "/", headers={"x-upstream-delay-ms": "300"})
        assert slow.status == 200 and slow.elapsed >= 0.3
        assert app.hits("/work") == 4 and app.hits() == 7


def test_hanging_upstream_is_released_by_close(pool: LoopbackPool) -> None:
    app = HttpUpstream("stuck", pool.allocate()).start()
    app.behave(hang=True)
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(http_request(app.address, "x", timeout=30).status))
    thread.start()
    try:
        assert not _joined(thread, 0.5), "a hanging upstream answered"
    finally:
        app.close()
    assert _joined(thread, 10)


def _joined(thread: threading.Thread, timeout: float) -> bool:
    thread.join(timeout)
    return not thread.is_alive()


def test_grpc_upstream_answers_any_method_and_can_fail(pool: LoopbackPool) -> None:
    server = GrpcUpstream("g1", pool.allocate())
    with serving(server):
        ok = grpc_call(server.address, "svc.local:9000", "/demo.Echo/Say", metadata={"x-id": "7"})
        assert ok.code is grpc.StatusCode.OK
        assert ok.body == {"name": "g1", "method": "/demo.Echo/Say", "metadata": ok.body["metadata"]}
        assert ok.body["metadata"]["x-id"] == "7"
        server.fail_times = 1
        assert grpc_call(server.address, "svc", "/demo.Echo/Say").code is grpc.StatusCode.UNAVAILABLE
        assert server.hits("/demo.Echo/Say") == 2


def test_tcp_echo_upstream_names_itself(pool: LoopbackPool) -> None:
    server = TcpEchoUpstream("t1", pool.allocate())
    with serving(server):
        assert tcp_exchange(server.address, b"hello") == b"t1 hello\n"
        assert server.connections == 1


def test_ca_leaf_is_trusted_by_a_client_with_the_ca_and_refused_without(pool: LoopbackPool, tmp_path: Path) -> None:
    ca = TestCA(tmp_path / "pki")
    leaf = ca.issue("server", dns=("svc.local",), uris=("spiffe://mesh/server",))
    address = pool.allocate()
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(leaf.chain, leaf.key)
    app = HttpUpstream("tls-app", address)
    app._server.socket = server_context.wrap_socket(app._server.socket, server_side=True)
    with serving(app):
        trusted = http_request(app.address, "svc.local", tls=tls_context(ca.cert_path))
        assert trusted.status == 200 and trusted.json["name"] == "tls-app"
        stranger = TestCA(tmp_path / "other")
        refused = http_request(app.address, "svc.local", tls=tls_context(stranger.cert_path))
        assert refused.status == 0 and "CERTIFICATE_VERIFY_FAILED" in (refused.error or "")
