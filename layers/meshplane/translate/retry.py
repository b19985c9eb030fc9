"""App Mesh retry events mapped onto Envoy's retry_on, plus App Mesh's hidden default policy."""

from __future__ import annotations

import functools

from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.extensions.retry.host.previous_hosts.v3 import previous_hosts_pb2

from meshplane.model import shapes
from meshplane.translate.core import duration, typed

SERVER_ERROR_CODES = (500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511)
_HTTP_EVENTS = {
    "gateway-error": ("gateway-error", ()),
    "server-error": ("retriable-status-codes", SERVER_ERROR_CODES),
    "client-error": ("retriable-status-codes", (409,)),
    "stream-error": ("refused-stream", ()),
}
_TCP_EVENTS = {"connection-error": "connect-failure"}
DEFAULT_RETRIES = 2
HOST_SELECTION_ATTEMPTS = 5


def _policy(retry_on: list[str], codes: list[int], retries: int) -> rc.RetryPolicy:
    policy = rc.RetryPolicy(
        retry_on=",".join(dict.fromkeys(retry_on)),
        retriable_status_codes=sorted(set(codes)),
        host_selection_retry_max_attempts=HOST_SELECTION_ATTEMPTS,
    )
    policy.num_retries.value = retries
    policy.retry_host_predicate.add(
        name="envoy.retry_host_predicates.previous_hosts",
        typed_config=typed(previous_hosts_pb2.PreviousHostsPredicate()),
    )
    return policy


@functools.cache
def default_policy() -> rc.RetryPolicy:
    """What App Mesh applied when a route had no retryPolicy."""
    return _policy(
        ["connect-failure", "refused-stream", "unavailable", "retriable-status-codes"], [503], DEFAULT_RETRIES
    )


def retry_policy(spec: shapes.HttpRetryPolicy | shapes.GrpcRetryPolicy | None) -> rc.RetryPolicy:
    if spec is None:
        return default_policy()
    retry_on: list[str] = []
    codes: list[int] = []
    for event in spec.http_retry_events or ():
        name, extra = _HTTP_EVENTS.get(event, (event, ()))
        retry_on.append(name)
        codes.extend(extra)
    retry_on.extend(_TCP_EVENTS[e] for e in spec.tcp_retry_events or ())
    retry_on.extend(getattr(spec, "grpc_retry_events", None) or ())
    policy = _policy(retry_on, codes, spec.max_retries)
    policy.per_try_timeout.CopyFrom(duration(spec.per_retry_timeout))
    return policy
