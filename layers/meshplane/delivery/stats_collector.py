"""`meshplane stats-collector`: one Envoy's per-cluster responses and request times, put to CloudWatch.

Beside each Envoy (as the CloudWatch agent would run), it reads the admin's `/clusters` for the
cluster names and `/stats` (JSON, Envoy's detailed histogram buckets) every period, and puts
what changed since the previous read as the metrics of `model.rollout.metrics`: each response
class's count, that of the retried attempts apart, and each request time bucket as a value
(its midpoint) with its count, so CloudWatch computes percentiles over any window.  Metrics are
high resolution (one second).  A counter that went down (Envoy restarted) counts from zero.
Envoy updates histograms when it flushes stats (`stats_flush_interval`, 5 s by default; `ENVOY_STATS_FLUSH_INTERVAL` for
`meshplane bootstrap`), so request times trail the counts by up to that much.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from meshplane.model.rollout.metrics import CLASSES, CLUSTER, CODE_CLASS, REQUEST_TIME, RESPONSES, RETRIED

log = logging.getLogger(__name__)
DEFAULT_PREFIX = "cds_egress_"
MAX_VALUES = 150  # PutMetricData: values per datum
MAX_DATUMS = 500  # per PutMetricData call, well under its 1,000 and 1 MB
Bucket = tuple[float, float]  # (lower bound, width) in milliseconds


@dataclass
class Reading:
    """Cumulative counts since Envoy started: responses per (metric, cluster, class), where the metric is
    `RESPONSES` or `RETRIED`, and request time buckets per cluster."""

    responses: dict[tuple[str, str, str], int] = field(default_factory=dict)
    times: dict[str, dict[Bucket, int]] = field(default_factory=dict)

    def since(self, before: Reading) -> Reading:
        """What happened after `before`; a counter that went down restarted from zero."""
        responses = {k: _grown(v, before.responses.get(k, 0)) for k, v in self.responses.items()}
        times = {cluster: {b: _grown(n, before.times.get(cluster, {}).get(b, 0)) for b, n in buckets.items()}
                 for cluster, buckets in self.times.items()}
        return Reading({k: v for k, v in responses.items() if v},
                       {c: {b: n for b, n in bs.items() if n} for c, bs in times.items() if any(bs.values())})


def _grown(now: int, before: int) -> int:
    return now - before if now >= before else now


def parse(clusters: list[str], stats: dict[str, Any]) -> Reading:
    """The reading of `clusters` in one `/stats?format=json&histogram_buckets=detailed` answer."""
    wanted = {f"cluster.{c}.{stat}upstream_rq_{k}xx": (metric, c, k) for c in clusters for k in CLASSES
              for stat, metric in (("", RESPONSES), ("retry.", RETRIED))}
    histograms = {f"cluster.{c}.upstream_rq_time": c for c in clusters}
    reading = Reading()
    for stat in stats.get("stats", []):
        if "name" in stat and stat["name"] in wanted:
            reading.responses[wanted[stat["name"]]] = int(stat.get("value") or 0)
        for detail in (stat.get("histograms") or {}).get("details", []):
            cluster = histograms.get(detail.get("name", ""))
            if cluster is not None:
                reading.times[cluster] = {(float(b["lower_bound"]), float(b["width"])): int(b["count"])
                                          for b in detail.get("totals", [])}
    return reading


def metric_data(delta: Reading, at: datetime) -> list[dict[str, Any]]:
    """The PutMetricData entries of one period's changes."""
    data: list[dict[str, Any]] = []
    for (metric, cluster, code), count in sorted(delta.responses.items()):
        data.append({"MetricName": metric, "Timestamp": at, "Value": float(count), "Unit": "Count",
                     "StorageResolution": 1,
                     "Dimensions": [{"Name": CLUSTER, "Value": cluster}, {"Name": CODE_CLASS, "Value": code}]})
    for cluster, buckets in sorted(delta.times.items()):
        points = sorted((lower + width / 2, count) for (lower, width), count in buckets.items())
        for i in range(0, len(points), MAX_VALUES):
            chunk = points[i:i + MAX_VALUES]
            data.append({"MetricName": REQUEST_TIME, "Timestamp": at, "Unit": "Milliseconds", "StorageResolution": 1,
                         "Values": [v for v, _ in chunk], "Counts": [float(n) for _, n in chunk],
                         "Dimensions": [{"Name": CLUSTER, "Value": cluster}]})
    return data


class Collector:
    """Reads one Envoy admin and puts the changes to CloudWatch, one period at a time."""

    def __init__(self, admin_url: str, cloudwatch: Any, namespace: str, prefix: str = DEFAULT_PREFIX,
                 timeout: float = 5.0) -> None:
        self.admin_url, self.cloudwatch, self.namespace = admin_url.rstrip("/"), cloudwatch, namespace
        self.prefix, self.timeout = prefix, timeout
        self.last: Reading | None = None

    def read(self) -> Reading:
        listing = self._get("/clusters?format=json")
        names = [c["name"] for c in listing.get("cluster_statuses", []) if c["name"].startswith(self.prefix)]
        return parse(names, self._get("/stats?format=json&usedonly&histogram_buckets=detailed"))

    def once(self) -> int:
        """One period: read, put what changed since the last read; the number of datums put."""
        reading = self.read()
        previous, self.last = self.last, reading
        if previous is None:
            return 0  # the first read is the baseline: what came before it is not this period's
        data = metric_data(reading.since(previous), datetime.now(UTC))
        for batch in _batches(data):
            self.cloudwatch.put_metric_data(Namespace=self.namespace, MetricData=batch)
        return len(data)

    def run(self, period: float, stop: threading.Event) -> None:
        """Every `period` seconds until `stop`; a failed period is logged and the next one tries again."""
        while True:
            try:
                self.once()
            except Exception:
                log.exception("stats-collector: reading %s or putting to CloudWatch failed", self.admin_url)
            if stop.wait(period):
                return

    def _get(self, path: str) -> dict[str, Any]:
        with urllib.request.urlopen(self.admin_url + path, timeout=self.timeout) as response:
            found: dict[str, Any] = json.loads(response.read())
            return found


def _batches(data: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for i in range(0, len(data), MAX_DATUMS):
        yield data[i:i + MAX_DATUMS]

