"""The canary's traffic as CloudWatch holds it: Envoy's per-cluster response classes and request times.

meshplane reads the metrics App Mesh users already ship from Envoy through the CloudWatch agent's
StatsD listener (`meshplane stats-collector` puts the same metrics from Envoy's admin `/stats`):

| metric | dimensions | statistic read |
|---|---|---|
| `envoy.cluster.upstream_rq_xx` (count) | `envoy.cluster_name`, `envoy.response_code_class` (`1`..`5`) | Sum |
| `envoy.cluster.retry.upstream_rq_xx` (count) | the same | Sum |
| `envoy.cluster.upstream_rq_time` (milliseconds) | `envoy.cluster_name` | p99 |

summed over every caller's Envoy (the agent's `aggregation_dimensions` drop the host).  The two
counts together are every upstream attempt (`model.rollout.metrics`): the 5xx rate is per attempt, so
retries do not hide a failing canary.  The window
is read at one-second periods (the high-resolution metrics the collector puts, or whatever
resolution the agent stores); the p99 of a window is the highest of its periods' p99s, which
never understates the window's own.  Alarms are read by name with DescribeAlarms; an alarm that
does not exist reads as MISSING, which no criterion accepts.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from meshplane.model.rollout.metrics import (
    CLASSES,
    CLUSTER,
    CODE_CLASS,
    DEFAULT_NAMESPACE,
    REQUEST_TIME,
    RESPONSES,
    RETRIED,
)
from meshplane.model.rollout.state import Measurement

__all__ = ["DEFAULT_NAMESPACE", "CloudWatchReader"]
PERIOD_SECONDS = 1


class CloudWatchReader:
    """Measurements of one cluster over a window, from GetMetricData and DescribeAlarms."""

    def __init__(self, cloudwatch: Any, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.cloudwatch, self.namespace = cloudwatch, namespace

    def measure(self, cluster: str | None, alarm_names: list[str], start: float, end: float, *,
                whole_seconds: bool = True) -> Measurement:
        """What `cluster` served in [start, end), and the state of each alarm; no traffic when it is None.

        The window is read in whole seconds: from the first second that starts after `start` (nothing from
        before it counts), or with `whole_seconds=False` from the second `start` falls in (nothing of it is
        missed; up to a second before it counts too)."""
        first = math.ceil(start) if whole_seconds else math.floor(start)
        counts, p99 = self._traffic(cluster, first, end) if cluster is not None else ({}, None)
        requests = int(sum(counts.values()))
        errors = int(counts.get("c5", 0) + counts.get("r5", 0))
        retried = int(sum(v for k, v in counts.items() if k.startswith("r")))
        return Measurement(window_start=start, window_end=end, requests=requests, errors=errors, retried=retried,
                           p99_millis=p99 if requests else None, alarms=self.alarms(alarm_names))

    def alarms(self, names: list[str]) -> dict[str, str]:
        if not names:
            return {}
        found = self.cloudwatch.describe_alarms(AlarmNames=names, AlarmTypes=["MetricAlarm", "CompositeAlarm"])
        states = {a["AlarmName"]: a["StateValue"] for kind in ("MetricAlarms", "CompositeAlarms")
                  for a in found.get(kind, [])}
        return {name: states.get(name, "MISSING") for name in names}

    def _traffic(self, cluster: str, start: int, end: float) -> tuple[dict[str, float], float | None]:
        """Attempts per query id (`c<class>` answered downstream, `r<class>` retried) and the window's p99."""
        queries = [self._query(f"{ident}{code}", metric, "Sum", {CLUSTER: cluster, CODE_CLASS: code})
                   for ident, metric in (("c", RESPONSES), ("r", RETRIED)) for code in CLASSES]
        queries.append(self._query("p99", REQUEST_TIME, "p99", {CLUSTER: cluster}))
        first = datetime.fromtimestamp(start, tz=UTC)
        last = datetime.fromtimestamp(max(math.ceil(end), start + PERIOD_SECONDS), tz=UTC)
        counts: dict[str, float] = {}
        p99: float | None = None
        paginator = self.cloudwatch.get_paginator("get_metric_data")
        for page in paginator.paginate(MetricDataQueries=queries, StartTime=first, EndTime=last):
            for result in page["MetricDataResults"]:
                values = [v for v in result.get("Values", []) if v is not None]
                if result["Id"] == "p99":
                    p99 = max([*values, *([p99] if p99 is not None else [])], default=None)
                else:
                    counts[result["Id"]] = counts.get(result["Id"], 0.0) + sum(values)
        return counts, p99

    def _query(self, ident: str, metric: str, stat: str, dimensions: dict[str, str]) -> dict[str, Any]:
        dims = [{"Name": k, "Value": v} for k, v in dimensions.items()]
        return {"Id": ident, "ReturnData": True, "MetricStat": {
            "Metric": {"Namespace": self.namespace, "MetricName": metric, "Dimensions": dims},
            "Period": PERIOD_SECONDS, "Stat": stat}}
