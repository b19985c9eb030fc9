"""Envoy side of the `mirror` section: a request mirror policy on a route action."""

from __future__ import annotations

from envoy.config.core.v3 import base_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.type.v3 import percent_pb2


def mirror_policy(cluster: str, per_million: int) -> rc.RouteAction.RequestMirrorPolicy:
    """Copy `per_million` of the route's requests to `cluster`; Envoy discards the copy's response.

    The default shadow-host suffix stays: the copy arrives with `Host: <name>-shadow`, so the
    shadow's logs tell mirrored requests apart (its ingress serves any host).
    """
    share = percent_pb2.FractionalPercent(numerator=per_million, denominator=percent_pb2.FractionalPercent.MILLION)
    return rc.RouteAction.RequestMirrorPolicy(
        cluster=cluster, runtime_fraction=base_pb2.RuntimeFractionalPercent(default_value=share)
    )


def apply(action: rc.RouteAction, cluster: str | None, per_million: int) -> None:
    """Mirror from `action` when the graph resolved the shadow to a cluster of this proxy."""
    if cluster is not None:
        action.request_mirror_policies.append(mirror_policy(cluster, per_million))
