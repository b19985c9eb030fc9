"""Telemetry's metrics from many threads at once, as a shard's publishing threads record them.

Powertools serialises and clears its metric set on the add that fills a metric to 100 values; another thread
adding meanwhile broke that flush (`RuntimeError: dictionary changed size during iteration`) or lost its value.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics
from meshplane.pipeline.telemetry import Telemetry

THREADS = 25
EACH = 800


def _emitted(printed: str, name: str) -> int:
    """How many values of `name` the EMF documents printed hold."""
    documents = (json.loads(line) for line in printed.splitlines() if line.startswith("{"))
    return sum(len(value) if isinstance(value := doc.get(name), list) else 1 for doc in documents if name in doc)


def test_threads_recording_metrics_together_neither_break_a_flush_nor_lose_a_value() -> None:
    metrics = EphemeralMetrics(namespace="Test")
    telemetry = Telemetry(Logger(service="threads", stream=io.StringIO()), Tracer(disabled=True), metrics)
    start = threading.Barrier(THREADS)
    failures: list[BaseException] = []

    def record() -> None:
        start.wait()
        try:
            for _ in range(EACH):
                with telemetry.timed("PublishLatency", "publish"):
                    pass
                telemetry.count("SnapshotsPublished")
        except BaseException as failure:  # the flush's failure, seen from the test's thread
            failures.append(failure)

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        threads = [threading.Thread(target=record) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        metrics.flush_metrics()
    assert failures == []
    assert _emitted(printed.getvalue(), "PublishLatency") == THREADS * EACH
    assert _emitted(printed.getvalue(), "SnapshotsPublished") == THREADS * EACH
