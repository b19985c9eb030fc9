"""Tracing is chosen by the sidecar's environment, as with the App Mesh image: X-Ray, Datadog, Jaeger (Zipkin),
a custom tracing file, or none.

Each case starts a real Envoy bootstrapped by `meshplane bootstrap` with that environment and configured by
meshplane (file mode), sends requests through its ingress and egress listeners, and reads what a local stand-in
for the collector received: segments at an X-Ray daemon (UDP), traces at a Datadog agent (`/v0.4/traces`),
spans at a Zipkin/Jaeger collector (`/api/v2/spans`), or nothing at all when tracing is off.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from meshplane.model.ids import Kind, ProxyId
from support import EnvoyRunner, Lab, MeshBuilder, http_request, listener, wait_until

from .bootstrapped import start
from .collectors import HttpCollector, XRayDaemon, msgpack

pytestmark = pytest.mark.envoy

SERVICE = "back.tracing.local"
REQUESTS = 5  # per listener, ingress and egress: 10 spans, two whole batches of the Zipkin tracer's 5-span flush
PATHS = [f"/{side}/{i}" for side in ("in", "out") for i in range(REQUESTS)]


@dataclass
class Collectors:
    """One of each collector on a private address; a case points the sidecar at some of them."""

    host: str
    xray: XRayDaemon
    agent: HttpCollector
    zipkin: HttpCollector

    def zipkin_posts(self) -> list[Any]:
        return [p for p in self.zipkin.to("/api/v2/spans") if p.body]


@dataclass
class Front:
    """The `front` sidecar under test: its mesh, address and the collectors around it."""

    mesh: str
    address: str
    collectors: Collectors
    start: Callable[[dict[str, str]], None]

    def send(self) -> None:
        for i in range(REQUESTS):
            assert http_request((self.address, 15000), "front.local:8080", f"/in/{i}").upstream == "front-app"
            assert http_request((self.address, 15001), f"{SERVICE}:9090", f"/out/{i}").upstream == "back"


@pytest.fixture
def front(lab: Lab, envoy_runner: EnvoyRunner, tmp_path: Path) -> Iterator[Front]:
    mesh = f"trace-{uuid.uuid4().hex[:8]}"
    builder = MeshBuilder(mesh).node("front", listener(8080), backends=(SERVICE,)).node("back", listener(9090))
    builder.service(SERVICE, node="back")
    lab.direct_http_app(builder, "back", "back", 9090)
    address = lab.address()
    lab.http_app("front-app", address, 8080)
    state = builder.build()
    host = lab.address()
    collectors = Collectors(host, XRayDaemon(host), HttpCollector(host), HttpCollector(host))
    proxy = ProxyId(mesh, Kind.VIRTUAL_NODE, "front")
    try:
        yield Front(mesh, address, collectors, lambda env: start(envoy_runner, state, proxy, address, env, tmp_path))
    finally:
        for closing in (collectors.xray, collectors.agent, collectors.zipkin):
            closing.close()


def test_xray_segments_reach_the_daemon_named_and_sampled_as_the_environment_says(front: Front) -> None:
    host, port = front.collectors.xray.address
    front.start({"ENABLE_ENVOY_XRAY_TRACING": "1", "AWS_XRAY_DAEMON_ADDRESS": f"{host}:{port}",
                 "XRAY_SEGMENT_NAME": "shop-front", "XRAY_SAMPLING_RATE": "1.0"})  # fmt: skip
    front.send()
    segments = front.collectors.xray.segments
    wait_until(lambda: len(segments) >= len(PATHS), 10, what="a segment per request at the X-Ray daemon")
    # Sampling rate 1: every request (X-Ray's default, 1/s plus 5 %, would sample about one of these six).
    assert sorted(s["http"]["request"]["url"].rsplit("/", 2)[-2:] for s in segments) == sorted(
        p.split("/")[1:] for p in PATHS)  # fmt: skip
    assert {s["name"] for s in segments} == {"shop-front"}
    assert {s["origin"] for s in segments} == {"AWS::AppMesh::Proxy"}
    assert segments[0]["aws"]["app_mesh"] == {"mesh_name": front.mesh, "virtual_node_name": "front"}


def test_datadog_traces_reach_the_agent_under_dd_service(front: Front) -> None:
    agent = front.collectors.agent
    front.start({"ENABLE_ENVOY_DATADOG_TRACING": "1", "DATADOG_TRACER_ADDRESS": front.collectors.host,
                 "DATADOG_TRACER_PORT": str(agent.port), "DD_SERVICE": "shop-front"})  # fmt: skip
    front.send()

    def spans() -> list[dict[str, Any]]:
        return [span for post in agent.to("/v0.4/traces") for trace in msgpack(post.body) for span in trace]

    wait_until(lambda: len(spans()) >= len(PATHS), 15, what="a span per request at the Datadog agent")
    assert {s["service"] for s in spans()} == {"shop-front"}
    assert sorted(s["meta"]["http.url"].rsplit("/", 2)[-2:] for s in spans()) == sorted(
        p.split("/")[1:] for p in PATHS)  # fmt: skip


def _zipkin_urls(spans: list[dict[str, Any]]) -> list[list[str]]:
    return sorted(s["tags"]["http.url"].rsplit("/", 2)[-2:] for s in spans)


def test_jaeger_json_spans_reach_the_collector_from_the_node_cluster(front: Front) -> None:
    front.start({"ENABLE_ENVOY_JAEGER_TRACING": "1", "JAEGER_TRACER_ADDRESS": front.collectors.host,
                 "JAEGER_TRACER_PORT": str(front.collectors.zipkin.port), "JAEGER_TRACER_VERSION": "JSON",
                 "APPMESH_VIRTUAL_NODE_CLUSTER": "front-cluster"})  # fmt: skip
    front.send()

    def spans() -> list[dict[str, Any]]:
        return [span for post in front.collectors.zipkin_posts() for span in json.loads(post.body)]

    wait_until(lambda: len(spans()) >= len(PATHS), 15, what="a span per request at the Zipkin collector")
    assert {p.headers["content-type"] for p in front.collectors.zipkin_posts()} == {"application/json"}
    assert _zipkin_urls(spans()) == sorted(p.split("/")[1:] for p in PATHS)
    assert {s["localEndpoint"]["serviceName"] for s in spans()} == {"front-cluster"}


def test_jaeger_protobuf_spans_are_the_default(front: Front) -> None:
    front.start({"ENABLE_ENVOY_JAEGER_TRACING": "1", "JAEGER_TRACER_ADDRESS": front.collectors.host,
                 "JAEGER_TRACER_PORT": str(front.collectors.zipkin.port)})  # fmt: skip
    front.send()

    def body() -> bytes:
        return b"".join(p.body for p in front.collectors.zipkin_posts())

    wait_until(lambda: all(p.encode() in body() for p in PATHS), 15, what="every request's span, as protobuf")
    assert {p.headers["content-type"] for p in front.collectors.zipkin_posts()} == {"application/x-protobuf"}
    assert f"mesh/{front.mesh}/virtualNode/front".encode() in body(), "the service is the node cluster"


def test_a_custom_tracing_file_replaces_the_tracing_section(front: Front, tmp_path: Path) -> None:
    """camelCase keys, as App Mesh users' files often have them; its collector cluster comes with it."""
    collector = {"name": "my_zipkin", "type": "STATIC", "connectTimeout": "1s",
                 "loadAssignment": {"clusterName": "my_zipkin", "endpoints": [{"lbEndpoints": [{"endpoint": {
                     "address": {"socketAddress": {"address": front.collectors.host,
                                                   "portValue": front.collectors.zipkin.port}}}}]}]}}  # fmt: skip
    tracer = {"http": {"name": "envoy.tracers.zipkin", "typedConfig": {
        "@type": "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig", "collectorCluster": "my_zipkin",
        "collectorEndpoint": "/api/v2/spans", "collectorEndpointVersion": "HTTP_JSON"}}}  # fmt: skip
    path = tmp_path / "tracing.yaml"
    path.write_text(json.dumps({"tracing": tracer, "staticResources": {"clusters": [collector]}}))
    front.start({"ENVOY_TRACING_CFG_FILE": str(path)})
    front.send()

    def spans() -> list[dict[str, Any]]:
        return [span for post in front.collectors.zipkin_posts() for span in json.loads(post.body)]

    wait_until(lambda: len(spans()) >= len(PATHS), 15, what="a span per request at the file's collector")
    assert _zipkin_urls(spans()) == sorted(p.split("/")[1:] for p in PATHS)


# the longest any tracer on would hold the spans: Datadog's flushes every 2 s, while Zipkin's flushes each whole
# batch of 5 spans at once (10 here) and X-Ray sends each segment as it ends
SLOWEST_FLUSH_S = 2


def test_with_tracing_off_no_collector_receives_anything(front: Front) -> None:
    """Every collector address is configured, only the switches are off; an X-Ray daemon also listens on
    127.0.0.1:2000, where a hard-coded tracer would send whatever the environment says."""
    collectors = front.collectors
    host, port = collectors.xray.address
    default_daemon = XRayDaemon("127.0.0.1", 2000)
    try:
        front.start({"ENABLE_ENVOY_XRAY_TRACING": "0", "AWS_XRAY_DAEMON_ADDRESS": f"{host}:{port}",
                     "ENABLE_ENVOY_DATADOG_TRACING": "0", "DATADOG_TRACER_ADDRESS": host,
                     "DATADOG_TRACER_PORT": str(collectors.agent.port), "ENABLE_ENVOY_JAEGER_TRACING": "0",
                     "JAEGER_TRACER_ADDRESS": host, "JAEGER_TRACER_PORT": str(collectors.zipkin.port)})  # fmt: skip
        front.send()
        time.sleep(SLOWEST_FLUSH_S + 1)
        ours = [s for s in default_daemon.segments if front.mesh in json.dumps(s)]
    finally:
        default_daemon.close()
    assert (collectors.xray.segments, collectors.agent.posts, collectors.zipkin.posts, ours) == ([], [], [], [])
