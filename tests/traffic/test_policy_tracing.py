"""The tracing policy: OpenTelemetry spans over OTLP gRPC reach a collector, through real Envoys.

A caller `front` and a backend `back`, each with its sidecar.  A mesh-wide policy traces every
proxy to the collector; a second policy gives `front` its own section with its own service
name, which wins over the mesh's there.  `front`'s bootstrap also carries a Zipkin tracer, as
`ENABLE_ENVOY_JAEGER_TRACING` would give it: the policy's provider wins over the bootstrap's,
so the Zipkin stand-in receives nothing.

The collector is a small gRPC server speaking `opentelemetry.proto.collector.trace.v1.TraceService`.
Envoy's OpenTelemetry tracer sends a batch once 5 spans are buffered (its runtime default
`tracing.opentelemetry.min_flush_spans`), so REQUESTS = 5 requests (one span per proxy each) make each
proxy send at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from envoy.config.trace.v3.zipkin_pb2 import ZipkinConfig
from meshplane.bootstrap.tracing import JAEGER_CLUSTER, ZIPKIN_V2_SPANS, collector_cluster
from meshplane.demo.otlp import OtlpCollector
from meshplane.model.ids import Kind, ProxyId
from meshplane.model.policy.spec import PolicyData
from meshplane.translate import translate
from meshplane.translate.static import inline_bootstrap
from support import Lab, MeshBuilder, Sidecar, http_request, listener, wait_until
from support.policies import policy

from .collectors import HttpCollector

pytestmark = [pytest.mark.envoy, pytest.mark.xdist_group("policy-tracing")]  # one Lab for the module

MESH = "otel-mesh"
BACK = "back.otel.local"
FRONT_SERVICE = "checkout-frontend"
REQUESTS = 5  # tracing.opentelemetry.min_flush_spans: one batch per proxy, sent at once



def _policy(name: str, target: dict[str, Any], tracing: dict[str, Any]) -> PolicyData:
    return policy(MESH, name, {"targets": [target], "tracing": tracing})


@dataclasses.dataclass
class Setup:
    front: Sidecar
    collector: OtlpCollector
    zipkin: HttpCollector


@pytest.fixture(scope="module")
def setup(lab: Lab) -> Iterator[Setup]:
    host = lab.address()
    collector = OtlpCollector(host)
    zipkin = HttpCollector(host)
    mesh = MeshBuilder(MESH)
    mesh.node("front", backends=(BACK,))
    mesh.node("back", listener(8080))
    mesh.service(BACK, node="back")
    back_address = lab.place(mesh, "back")
    lab.http_app("back", back_address, 8080)
    where = {"hostname": host, "port": collector.port}
    policies = {
        "everyone": _policy("everyone", {"mesh": {}}, {"collector": where}),
        "front": _policy("front", {"virtualNode": {"virtualNodeName": "front"}},
                         {"collector": where, "serviceName": FRONT_SERVICE, "samplingPercent": 100}),
    }  # fmt: skip
    state = dataclasses.replace(mesh.build(), policies=policies)
    lab.sidecar(state, "back", back_address)
    front_address = lab.address()
    proxy = ProxyId(MESH, Kind.VIRTUAL_NODE, "front")
    boot = inline_bootstrap(translate(state, proxy), bind_address=front_address, node_id=proxy.path)
    boot.admin.address.socket_address.address = front_address
    # The environment's tracer (Zipkin, as ENABLE_ENVOY_JAEGER_TRACING sets it up), which the policy overrides.
    boot.tracing.http.name = "envoy.tracers.zipkin"
    boot.tracing.http.typed_config.Pack(ZipkinConfig(collector_cluster=JAEGER_CLUSTER,
                                                     collector_endpoint=ZIPKIN_V2_SPANS,
                                                     collector_endpoint_version=ZipkinConfig.HTTP_JSON))  # fmt: skip
    boot.static_resources.clusters.append(collector_cluster(JAEGER_CLUSTER, host, zipkin.port))
    front = Sidecar(proxy, front_address, lab.runner.start(boot, name="front"))
    try:
        yield Setup(front, collector, zipkin)
    finally:
        collector.server.stop(None)
        zipkin.close()


def test_spans_reach_the_collector_under_each_proxys_service_name(setup: Setup) -> None:
    for i in range(REQUESTS):
        assert http_request(setup.front.egress, f"{BACK}:8080", f"/traced/{i}").upstream == "back"
    wanted = {FRONT_SERVICE, f"{MESH}/back"}
    wait_until(lambda: all(setup.collector.services().get(name, 0) >= REQUESTS for name in wanted), 30,
               what="both proxies' spans at the collector")  # fmt: skip
    assert set(setup.collector.services()) == wanted
    # One trace per request, both proxies' spans in it: the caller's context reached the backend's sidecar.
    traces: dict[bytes, set[str]] = {}
    for name, span in setup.collector.spans:
        traces.setdefault(span.trace_id, set()).add(name)
    assert sum(names == wanted for names in traces.values()) >= REQUESTS, traces
    # The bootstrap's Zipkin tracer is overridden on every connection manager of `front`.
    assert [p for p in setup.zipkin.to(ZIPKIN_V2_SPANS) if p.body] == []
