"""Envoy side of the `mirror` section: a request mirror policy on a route action."""

from __future__ import annotations

from envoy.config.core.v3 import base_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.type.v3 import percent_pb2

from meshplane.graph.view import RouteView


def mirror_policy(cluster: str, per_million: int) -> rc.RouteAction.RequestMirrorPolicy:
    """Copy `per_million` of the route's requests to `cluster`; Envoy discards the copy's response.

    The default shadow-host suffix stays: the copy arrives with `Host: <name>-shadow`, so the
    shadow's logs tell mirrored requests apart (its ingress serves any host).
    """
    share = percent_pb2.FractionalPercent(numerator=per_million, denominator=percent_pb2.FractionalPercent.MILLION)
    return rc.RouteAction.RequestMirrorPolicy(
        cluster=cluster, runtime_fraction=base_pb2.RuntimeFractionalPercent(default_value=share)
    )


def apply(action: rc.RouteAction, route: RouteView) -> None:
    """Mirror from `action` when the route has a mirror the graph resolved to a cluster of this proxy."""
    mirror = route.policies.mirror
    if mirror is not None and route.mirror_cluster is not None:
        action.request_mirror_policies.append(mirror_policy(route.mirror_cluster, mirror.per_million))
