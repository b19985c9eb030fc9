"""An OpenTelemetry collector stand-in: an OTLP/gRPC TraceService that counts spans by `service.name`.

The demo's tracing policy points every sidecar at it.  Envoy's OpenTelemetry tracer sends a
batch once 5 spans are buffered (its runtime default `tracing.opentelemetry.min_flush_spans`),
so a few requests are enough for each proxy to send at once.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent import futures
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


def scope_spans(resource_spans: Any) -> Any:
    """Field 2 of ResourceSpans. xds-protos and opentelemetry-proto both install `opentelemetry/proto/...`, and
    whichever is installed last wins: xds-protos' older OTLP names the field `instrumentation_library_spans`."""
    if hasattr(resource_spans, "scope_spans"):
        return resource_spans.scope_spans
    return resource_spans.instrumentation_library_spans


class OtlpCollector(trace_service_pb2_grpc.TraceServiceServicer):
    """Keeps every span it is sent, with the `service.name` of its resource; serves on `host`, a free port."""

    def __init__(self, host: str) -> None:
        self.spans: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, self.server)  # type: ignore[no-untyped-call]  # generated code
        self.port = self.server.add_insecure_port(f"{host}:0")
        self.server.start()

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        with self._lock:
            for resource_spans in request.resource_spans:
                attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope in scope_spans(resource_spans):
                    self.spans += [(attributes.get("service.name", ""), span) for span in scope.spans]
        return trace_service_pb2.ExportTraceServiceResponse()

    def services(self) -> dict[str, int]:
        with self._lock:
            return dict(Counter(name for name, _ in self.spans))

    def close(self) -> None:
        self.server.stop(grace=None)
