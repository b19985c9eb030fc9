"""Powertools Logger, Tracer and Metrics for the pipeline, built by entry points from the environment.

Service name and namespace come from `POWERTOOLS_SERVICE_NAME` and
`POWERTOOLS_METRICS_NAMESPACE`.  The Tracer follows Powertools' own rules: it is
off outside Lambda and whenever `POWERTOOLS_TRACE_DISABLED=true`, so it never
needs a daemon to run.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from meshplane.pipeline.xray_client import xray_clients_on_first_use

# Powertools' metric set is not safe to share between threads: the add that fills it to 100 values serialises and
# clears it while another thread adds (RuntimeError, or a value lost), and a shard's publishing threads all add.
# `Metrics` instances share one set, so the lock is one for the process.
_METRICS_LOCK = threading.Lock()


@dataclass
class Telemetry:
    logger: Logger
    tracer: Tracer
    metrics: Metrics

    @classmethod
    def from_env(cls, log_stream: IO[str] | None = None) -> Telemetry:
        """`log_stream` defaults to stdout, where Lambda ships it to CloudWatch Logs."""
        with xray_clients_on_first_use():  # the Tracer's first use imports the X-Ray SDK
            tracer = Tracer()
        return cls(logger=Logger(stream=log_stream), tracer=tracer, metrics=Metrics())

    def count(self, name: str, value: float = 1) -> None:
        self._add(name, MetricUnit.Count, value)

    def bytes(self, name: str, value: float) -> None:
        self._add(name, MetricUnit.Bytes, value)

    def milliseconds(self, name: str, value: float) -> None:
        self._add(name, MetricUnit.Milliseconds, value)

    def _add(self, name: str, unit: MetricUnit, value: float) -> None:
        with _METRICS_LOCK:
            self.metrics.add_metric(name=name, unit=unit, value=value)

    @contextlib.contextmanager
    def timed(self, metric: str, subsegment: str) -> Iterator[Any]:
        """Time a block into a Milliseconds metric, inside an X-Ray subsegment of the same job."""
        started = time.perf_counter()
        with self.traced(subsegment) as segment:
            yield segment
        self.milliseconds(metric, (time.perf_counter() - started) * 1000)

    def traced(self, subsegment: str) -> contextlib.AbstractContextManager[Any]:
        """An X-Ray subsegment around a block; none (None) while the X-Ray SDK is disabled.

        Why not the disabled recorder's own dummy subsegments: they are never sent, yet cost
        tens of microseconds each, and a shard opens several per proxy it publishes.  The
        SDK's switch is the one the recorder itself obeys (a disabled Tracer turns it off)."""
        from aws_xray_sdk import global_sdk_config  # type: ignore[import-untyped]  # no types; loaded by Tracer

        if not global_sdk_config.sdk_enabled():
            return _UNTRACED
        manager: contextlib.AbstractContextManager[Any] = self.tracer.provider.in_subsegment(subsegment)
        return manager


_UNTRACED = contextlib.nullcontext()  # stateless: one serves every untraced block, nested or on any thread
