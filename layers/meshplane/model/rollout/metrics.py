"""The CloudWatch metrics a rollout is judged on: Envoy's cluster stats, named as Envoy's DogStatsD sink names them.

With Envoy's default tag extraction, `cluster.<name>.upstream_rq_5xx` becomes the metric
`envoy.cluster.upstream_rq_xx` with the tags `envoy.cluster_name` and `envoy.response_code_class`,
and the request time histogram `envoy.cluster.upstream_rq_time` with `envoy.cluster_name`: what the
CloudWatch agent's StatsD listener stores for App Mesh users, and what `meshplane stats-collector` puts.

Envoy's router charges `upstream_rq_<N>xx` with the response it hands downstream only; an attempt it
retries is charged to `cluster.<name>.retry.upstream_rq_<N>xx` instead (`envoy.cluster.retry.upstream_rq_xx`
once tags are extracted).  The two together count every upstream attempt, which is what a canary is
judged on: behind a retry policy its callers see a fraction of its failures.
"""

from __future__ import annotations

DEFAULT_NAMESPACE = "Meshplane/Envoy"
RESPONSES = "envoy.cluster.upstream_rq_xx"  # Count, per response class: the attempts whose answer went downstream
RETRIED = "envoy.cluster.retry.upstream_rq_xx"  # Count, per response class: the attempts Envoy retried
REQUEST_TIME = "envoy.cluster.upstream_rq_time"  # Milliseconds, as raw values (percentiles computable)
CLUSTER = "envoy.cluster_name"
CODE_CLASS = "envoy.response_code_class"  # "1" .. "5"
CLASSES = ("1", "2", "3", "4", "5")
