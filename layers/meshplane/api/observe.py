"""Powertools around one API request: a JSON log line, EMF metrics and an X-Ray trace.

Per request the log line carries the operation, status, error type and latency,
with the API Gateway request id as correlation id; request and response bodies
are never logged.  Metrics keep a small, fixed dimension space: `Requests` and
`Latency` (ms) by `Operation` (a modelled operation name, `Health` or
`UnknownOperation`), and `Errors` by `Operation` and `ErrorType` (a modelled
exception name).  In Lambda the Tracer wraps the handler and the Api opens a
subsegment per operation; outside Lambda or with `POWERTOOLS_TRACE_DISABLED=true`
the Tracer is a no-op.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit, single_metric

if TYPE_CHECKING:
    from meshplane.api.app import Served
    from meshplane.pipeline.telemetry import Telemetry

# Powertools keeps metrics in class-level state; the local server is threaded, Lambda is not.
_one_at_a_time = threading.Lock()


def request_id(event: Mapping[str, Any]) -> str | None:
    context = event.get("requestContext")
    return context.get("requestId") if isinstance(context, Mapping) else None


def observed(telemetry: Telemetry, serve: Callable[[Mapping[str, Any]], Served], event: Mapping[str, Any],
             context: Any) -> dict[str, Any]:
    """`serve(event)` logged, measured and traced; `context` None (the local server) skips Lambda's context."""
    t = telemetry

    def api(event: Mapping[str, Any], context: Any) -> dict[str, Any]:  # the handler subsegment is "## api"
        t.logger.set_correlation_id(request_id(event))
        started = time.perf_counter()
        served = serve(event)
        _record(t, served, (time.perf_counter() - started) * 1000)
        return served.response

    inner = api if context is None else t.logger.inject_lambda_context(
        api, correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
    with _one_at_a_time:
        response: dict[str, Any] = t.metrics.log_metrics(t.tracer.capture_lambda_handler(inner))(event, context)
        return response


def _record(t: Telemetry, served: Served, latency_ms: float) -> None:
    t.tracer.put_annotation("Operation", served.operation)
    t.metrics.add_dimension(name="Operation", value=served.operation)
    t.count("Requests")
    t.milliseconds("Latency", latency_ms)
    fields = {"operation": served.operation, "status": served.status, "errorType": served.error_type,
              "latencyMs": round(latency_ms, 3)}
    if served.error_type is None:
        t.logger.info("request served", extra=fields)
        return
    # its own EMF document (service dimension included), so ErrorType never multiplies Requests or Latency
    with single_metric(name="Errors", unit=MetricUnit.Count, value=1, namespace=t.metrics.namespace,
                       default_dimensions={"Operation": served.operation, "ErrorType": served.error_type}):
        pass
    if served.failure is not None:
        t.logger.error("request failed unexpectedly", extra=fields, exc_info=served.failure)
    else:
        t.logger.info("request rejected", extra=fields)
