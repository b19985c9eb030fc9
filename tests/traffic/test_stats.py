"""App Mesh's stats contract on a real Envoy bootstrapped by `meshplane bootstrap` and configured by meshplane.

Ingress stat prefixes are `ingress.<protocol>.<port>`, so the App Mesh image's regex tags extract
`appmesh.listener_protocol`, `appmesh.listener_port` and the route configuration; ENABLE_ENVOY_STATS_TAGS adds
the mesh and node; the DogStatsD sink carries the tags and flushes at ENVOY_STATS_FLUSH_INTERVAL.
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import pytest
from meshplane.model.ids import Kind, ProxyId
from support import Envoy, EnvoyRunner, Lab, MeshBuilder, http_request, listener, tcp_exchange, wait_until

from .bootstrapped import start
from .collectors import DatagramSink

pytestmark = pytest.mark.envoy

SAMPLE = re.compile(r"^(\w+)\{(.*)\} (\S+)$")
FLUSHED_EVERY_TIME = "envoy.cluster_manager.cluster_added:"  # a counter the sink sends at each flush


def prometheus(envoy: Envoy, metric: str) -> dict[frozenset[tuple[str, str]], float]:
    """`metric`'s samples from /stats/prometheus, by their label sets."""
    _, body = envoy.admin_get("/stats/prometheus")
    out = {}
    for line in body.splitlines():
        match = SAMPLE.match(line)
        if match and match.group(1) == metric:
            labels = frozenset(tuple(pair.split("=", 1)) for pair in match.group(2).split(","))
            out[frozenset((k, v.strip('"')) for k, v in labels)] = float(match.group(3))
    return out


def test_http_ingress_stats_carry_the_app_mesh_tags_and_flush_to_dogstatsd_at_the_interval(
    lab: Lab, envoy_runner: EnvoyRunner, tmp_path: Path
) -> None:
    mesh = f"stats-{uuid.uuid4().hex[:8]}"
    state = MeshBuilder(mesh).node("front", listener(8080)).build()
    address = lab.address()
    lab.http_app("front-app", address, 8080)
    sink = DatagramSink.udp(lab.address())
    try:
        envoy, _ = start(envoy_runner, state, ProxyId(mesh, Kind.VIRTUAL_NODE, "front"), address, {
            "ENABLE_ENVOY_STATS_TAGS": "1", "ENVOY_STATS_FLUSH_INTERVAL": "200ms", "ENABLE_ENVOY_DOG_STATSD": "1",
            "STATSD_ADDRESS": sink.address[0], "STATSD_PORT": str(sink.address[1])}, tmp_path)  # fmt: skip
        for i in range(3):
            assert http_request((address, 15000), "front.local:8080", f"/{i}").upstream == "front-app"

        assert envoy.stats(r"^http\.ingress\.")["http.ingress.http.8080.downstream_rq_total"] == 3
        tags = {("appmesh_mesh", mesh), ("appmesh_virtual_node", "front"), ("appmesh_listener_protocol", "http"),
                ("appmesh_listener_port", "8080"), ("envoy_http_conn_manager_prefix", "ingress")}  # fmt: skip
        assert prometheus(envoy, "envoy_http_downstream_rq_total")[frozenset(tags)] == 3
        reloads = prometheus(envoy, "envoy_http_rds_config_reload")
        assert frozenset({*tags, ("envoy_rds_route_config", "rds_ingress_http_8080")}) in reloads

        dumped = next(c for c in envoy.config_dump()["configs"] if c["@type"].endswith("BootstrapConfigDump"))
        assert dumped["bootstrap"]["stats_flush_interval"] == "0.200s"
        before = sum(line.startswith(FLUSHED_EVERY_TIME) for line in sink.lines())
        time.sleep(2.0)
        flushes = sum(line.startswith(FLUSHED_EVERY_TIME) for line in sink.lines()) - before
        assert 3 <= flushes <= 12, f"{flushes} flushes in 2 s at 200 ms (Envoy's default 5 s gives at most 1)"
        ingress = [line for line in sink.lines() if line.startswith("envoy.http.downstream_rq_total:")
                   and "appmesh.listener_port:8080" in line and f"appmesh.mesh:{mesh}" in line]  # fmt: skip
        # a counter is sent as its delta since the last flush, so the three requests may span several datagrams
        assert sum(int(line.split(":", 1)[1].split("|", 1)[0]) for line in ingress) == 3, ingress
    finally:
        sink.close()


def test_tcp_ingress_stats_carry_the_listener_tags_and_dogstatsd_reaches_a_unix_socket(
    lab: Lab, envoy_runner: EnvoyRunner, tmp_path: Path
) -> None:
    mesh = f"stats-{uuid.uuid4().hex[:8]}"
    state = MeshBuilder(mesh).node("db", listener(5432, "tcp")).build()
    address = lab.address()
    lab.tcp_app("db-app", address, 5432)
    sink = DatagramSink.unix(tmp_path / "dogstatsd.sock")
    try:
        envoy, _ = start(envoy_runner, state, ProxyId(mesh, Kind.VIRTUAL_NODE, "db"), address, {
            "ENABLE_ENVOY_STATS_TAGS": "1", "ENABLE_ENVOY_DOG_STATSD": "1", "STATSD_SOCKET_PATH": sink.address,
            "ENVOY_STATS_FLUSH_INTERVAL": "100ms"}, tmp_path)  # fmt: skip
        assert tcp_exchange((address, 15000), b"ping").strip()
        wait_until(lambda: envoy.stats(r"^tcp\.ingress\.").get("tcp.ingress.tcp.5432.downstream_cx_total") == 1, 5,
                   what="the TCP connection in the ingress stats")  # fmt: skip
        tags = {("appmesh_mesh", mesh), ("appmesh_virtual_node", "db"), ("appmesh_listener_protocol", "tcp"),
                ("appmesh_listener_port", "5432"), ("envoy_tcp_prefix", "ingress")}  # fmt: skip
        assert prometheus(envoy, "envoy_tcp_downstream_cx_total")[frozenset(tags)] == 1
        wait_until(lambda: any(f"appmesh.mesh:{mesh}" in line for line in sink.lines()), 5,
                   what="tagged DogStatsD datagrams on STATSD_SOCKET_PATH")  # fmt: skip
    finally:
        sink.close()
