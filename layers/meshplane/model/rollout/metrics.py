"""The CloudWatch metrics a rollout is judged on: Envoy's cluster stats, named as Envoy's DogStatsD sink names them.

With Envoy's default tag extraction, `cluster.<name>.upstream_rq_5xx` becomes the metric
`envoy.cluster.upstream_rq_xx` with the tags `envoy.cluster_name` and `envoy.response_code_class`,
and the request time histogram `envoy.cluster.upstream_rq_time` with `envoy.cluster_name`: what the
CloudWatch agent's StatsD listener stores for App Mesh users, and what `meshplane stats-collector` puts.
"""

from __future__ import annotations

DEFAULT_NAMESPACE = "Meshplane/Envoy"
RESPONSES = "envoy.cluster.upstream_rq_xx"  # Count, per response class
REQUEST_TIME = "envoy.cluster.upstream_rq_time"  # Milliseconds, as raw values (percentiles computable)
CLUSTER = "envoy.cluster_name"
CODE_CLASS = "envoy.response_code_class"  # "1" .. "5"
CLASSES = ("1", "2", "3", "4", "5")
