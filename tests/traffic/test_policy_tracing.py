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
import threading
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from envoy.config.trace.v3.zipkin_pb2 import ZipkinConfig
from meshplane.bootstrap.tracing import JAEGER_CLUSTER, ZIPKIN_V2_SPANS, collector_cluster
from meshplane.model.ids import Kind, ProxyId
from meshplane.model.policy.spec import PolicyData
from meshplane.translate import translate
from meshplane.translate.static import inline_bootstrap
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from support import Lab, MeshBuilder, Sidecar, http_request, listener, wait_until
from support.policies import policy

from .collectors import HttpCollector

pytestmark = [pytest.mark.envoy, pytest.mark.xdist_group("policy-tracing")]  # one Lab for the module

MESH = "otel-mesh"
BACK = "back.otel.local"
FRONT_SERVICE = "checkout-frontend"
REQUESTS = 5  # tracing.opentelemetry.min_flush_spans: one batch per proxy, sent at once



def _scope_spans(resource_spans: Any) -> Any:
    """Field 2 of ResourceSpans. xds-protos and opentelemetry-proto both install `opentelemetry/proto/...`, and
    whichever is installed last wins: xds-protos' older OTLP names the field `instrumentation_library_spans`."""
    if hasattr(resource_spans, "scope_spans"):
        return resource_spans.scope_spans
    return resource_spans.instrumentation_library_spans

class OtlpCollector(trace_service_pb2_grpc.TraceServiceServicer):
    """Keeps every span it is sent, with the `service.name` of its resource."""

    def __init__(self, host: str) -> None:
        self.spans: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, self.server)
        self.port = self.server.add_insecure_port(f"{host}:0")
        self.server.start()

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        with self._lock:
            for resource_spans in request.resource_spans:
                attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope in _scope_spans(resource_spans):
                    self.spans += [(attributes.get("service.name", ""), span) for span in scope.spans]
        return trace_service_pb2.ExportTraceServiceResponse()

    def services(self) -> dict[str, int]:
        with self._lock:
            names = [name for name, _ in self.spans]
        return {name: names.count(name) for name in set(names)}


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
