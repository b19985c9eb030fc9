"""Envoy side of the `rateLimit` section: the HTTP local rate limit filter and its token bucket.

The filter in each HTTP connection manager carries no bucket; the bucket rides on the
listener's route configuration (`typed_per_filter_config`).  Envoy builds a per-route
config once per route configuration, and the connection managers that subscribe to the
same route configuration over RDS (ADS, or the file agent's per-resource files) share it:
a permissive TLS listener's plaintext and TLS chains, a gateway's loop-back chain.  So
one listener of one instance has one budget.  (A static bootstrap that inlines the route
configuration, as the test harness does, gives each connection manager its own copy.)
"""

from __future__ import annotations

import functools

from envoy.config.core.v3 import base_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3.route_pb2 import RouteConfiguration
from envoy.extensions.common.ratelimit.v3 import ratelimit_pb2
from envoy.extensions.filters.http.local_ratelimit.v3 import local_rate_limit_pb2 as lrl
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from envoy.type.v3 import percent_pb2, token_bucket_pb2

from meshplane.model.policy.rate_limit import RateLimit
from meshplane.translate.core import seconds, typed

FILTER = "envoy.filters.http.local_ratelimit"
STAT_PREFIX = "policy_rate_limit"


def _share(percent: int) -> base_pb2.RuntimeFractionalPercent:
    share = percent_pb2.FractionalPercent(numerator=percent, denominator=percent_pb2.FractionalPercent.HUNDRED)
    return base_pb2.RuntimeFractionalPercent(default_value=share)


@functools.cache
def http_filter() -> hcm.HttpFilter:
    """The connection manager's filter: no bucket of its own, so requests pass unless a route config sets one."""
    return hcm.HttpFilter(name=FILTER, typed_config=typed(lrl.LocalRateLimit(stat_prefix=STAT_PREFIX)))


def bucket(limit: RateLimit) -> lrl.LocalRateLimit:
    """`requestsPerUnit` tokens every unit, up to `requestsPerUnit + burst` saved; 429 with draft-03 headers."""
    config = lrl.LocalRateLimit(
        stat_prefix=STAT_PREFIX,
        token_bucket=token_bucket_pb2.TokenBucket(
            max_tokens=limit.bucket_size, fill_interval=seconds(limit.fill_seconds)
        ),
        filter_enabled=_share(100),
        filter_enforced=_share(100),
        enable_x_ratelimit_headers=ratelimit_pb2.DRAFT_VERSION_03,
    )
    config.token_bucket.tokens_per_fill.value = limit.requests_per_unit
    return config


@functools.cache
def _exempt() -> lrl.LocalRateLimit:
    """A per-route override that never consults a bucket (Envoy wants one set on per-route configs)."""
    return lrl.LocalRateLimit(
        stat_prefix=STAT_PREFIX,
        token_bucket=token_bucket_pb2.TokenBucket(max_tokens=1, fill_interval=seconds(1)),
        filter_enabled=_share(0),
    )


def filters(rate: RateLimit | None) -> list[hcm.HttpFilter]:
    """The filter for a connection manager of a proxy that has a rate limit."""
    return [http_filter()] if rate is not None else []


def limit(config: RouteConfiguration, rate: RateLimit | None) -> None:
    """Every request the route configuration serves draws from one bucket."""
    if rate is not None:
        config.typed_per_filter_config[FILTER].CopyFrom(typed(bucket(rate)))


def exempt(route: rc.Route, rate: RateLimit | None) -> None:
    """A gateway route's first hop draws nothing: the request is counted once, on the loop-back hop
    that every request to a backend takes (even one that forged the steering header)."""
    if rate is not None:
        route.typed_per_filter_config[FILTER].CopyFrom(typed(_exempt()))
