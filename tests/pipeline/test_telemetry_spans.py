"""Telemetry's spans: none is opened while the Tracer is disabled, and the timed metric is still recorded."""

from __future__ import annotations

import io
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics
from meshplane.pipeline.telemetry import Telemetry


class Refusing:
    """A provider that fails the test if anyone opens a subsegment on it."""

    def in_subsegment(self, name: str) -> Any:
        raise AssertionError(f"subsegment {name!r} opened while tracing is disabled")


def test_a_disabled_tracer_opens_no_subsegment_and_the_latency_metric_is_kept() -> None:
    tracer = Tracer(disabled=True)
    tracer.provider = Refusing()  # the recorder the spans would go through
    metrics = EphemeralMetrics(namespace="Test")
    telemetry = Telemetry(Logger(service="spans", stream=io.StringIO()), tracer, metrics)
    with telemetry.traced("s3.put_snapshot") as segment:
        assert segment is None
    with telemetry.timed("PublishLatency", "publish"):
        pass
    assert len(metrics.metric_set["PublishLatency"]["Value"]) == 1
