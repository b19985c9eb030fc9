"""The canary's traffic as CloudWatch holds it: Envoy's per-cluster response classes and request times.

meshplane reads the metrics App Mesh users already ship from Envoy through the CloudWatch agent's
StatsD listener (`meshplane stats-collector` puts the same metrics from Envoy's admin `/stats`):

| metric | dimensions | statistic read |
|---|---|---|
| `envoy.cluster.upstream_rq_xx` (count) | `envoy.cluster_name`, `envoy.response_code_class` (`1`..`5`) | Sum |
| `envoy.cluster.upstream_rq_time` (milliseconds) | `envoy.cluster_name` | p99 |

summed over every caller's Envoy (the agent's `aggregation_dimensions` drop the host).  The window
is read at one-second periods (the high-resolution metrics the collector puts, or whatever
resolution the agent stores); the p99 of a window is the highest of its periods' p99s, which
never understates the window's own.  Alarms are read by name with DescribeAlarms; an alarm that
does not exist reads as MISSING, which no criterion accepts.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from meshplane.model.rollout.metrics import CLASSES, CLUSTER, CODE_CLASS, DEFAULT_NAMESPACE, REQUEST_TIME, RESPONSES
from meshplane.model.rollout.state import Measurement

__all__ = ["DEFAULT_NAMESPACE", "CloudWatchReader"]
PERIOD_SECONDS = 1


class CloudWatchReader:
    """Measurements of one cluster over a window, from GetMetricData and DescribeAlarms."""

    def __init__(self, cloudwatch: Any, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.cloudwatch, self.namespace = cloudwatch, namespace

    def measure(self, cluster: str | None, alarm_names: list[str], start: float, end: float) -> Measurement:
        """What `cluster` served in [start, end), and the state of each alarm; no traffic when it is None."""
        counts, p99 = self._traffic(cluster, start, end) if cluster is not None else ({}, None)
        requests = int(sum(counts.values()))
        return Measurement(window_start=start, window_end=end, requests=requests, errors=int(counts.get("5", 0)),
                           p99_millis=p99 if requests else None, alarms=self.alarms(alarm_names))

    def alarms(self, names: list[str]) -> dict[str, str]:
        if not names:
            return {}
        found = self.cloudwatch.describe_alarms(AlarmNames=names, AlarmTypes=["MetricAlarm", "CompositeAlarm"])
        states = {a["AlarmName"]: a["StateValue"] for kind in ("MetricAlarms", "CompositeAlarms")
                  for a in found.get(kind, [])}
        return {name: states.get(name, "MISSING") for name in names}

    def _traffic(self, cluster: str, start: float, end: float) -> tuple[dict[str, float], float | None]:
        queries = [self._query(f"c{code}", RESPONSES, "Sum", {CLUSTER: cluster, CODE_CLASS: code}) for code in CLASSES]
        queries.append(self._query("p99", REQUEST_TIME, "p99", {CLUSTER: cluster}))
        first = datetime.fromtimestamp(math.ceil(start), tz=UTC)  # only what was put after the window opened
        last = datetime.fromtimestamp(max(math.ceil(end), math.ceil(start) + PERIOD_SECONDS), tz=UTC)
        counts: dict[str, float] = {}
        p99: float | None = None
        paginator = self.cloudwatch.get_paginator("get_metric_data")
        for page in paginator.paginate(MetricDataQueries=queries, StartTime=first, EndTime=last):
            for result in page["MetricDataResults"]:
                values = [v for v in result.get("Values", []) if v is not None]
                if result["Id"] == "p99":
                    p99 = max([*values, *([p99] if p99 is not None else [])], default=None)
                else:
                    counts[result["Id"][1:]] = counts.get(result["Id"][1:], 0.0) + sum(values)
        return counts, p99

    def _query(self, ident: str, metric: str, stat: str, dimensions: dict[str, str]) -> dict[str, Any]:
        dims = [{"Name": k, "Value": v} for k, v in dimensions.items()]
        return {"Id": ident, "ReturnData": True, "MetricStat": {
            "Metric": {"Namespace": self.namespace, "MetricName": metric, "Dimensions": dims},
            "Period": PERIOD_SECONDS, "Stat": stat}}
