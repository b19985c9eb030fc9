"""Envoy side of the tag-driven extensions (see `meshplane.graph.extensions` for the tags)."""

from __future__ import annotations

from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.extensions.filters.common.fault.v3 import fault_pb2 as common_fault
from envoy.extensions.filters.http.fault.v3 import fault_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from envoy.type.v3 import percent_pb2

from meshplane.graph.extensions import Balancing, Fault
from meshplane.translate.core import millis, typed

FAULT_FILTER = "envoy.filters.http.fault"
_POLICIES = {
    "ROUND_ROBIN": Cluster.ROUND_ROBIN,
    "LEAST_REQUEST": Cluster.LEAST_REQUEST,
    "RANDOM": Cluster.RANDOM,
    "RING_HASH": Cluster.RING_HASH,
    "MAGLEV": Cluster.MAGLEV,
}


def apply_balancing(cluster: Cluster, balancing: Balancing | None) -> None:
    if balancing is not None:
        cluster.lb_policy = _POLICIES[balancing.policy]


def hash_policies(headers: tuple[str, ...]) -> list[rc.RouteAction.HashPolicy]:
    return [rc.RouteAction.HashPolicy(header=rc.RouteAction.HashPolicy.Header(header_name=h)) for h in headers]


def _share(percent: float) -> percent_pb2.FractionalPercent:
    return percent_pb2.FractionalPercent(
        numerator=round(percent * 10_000), denominator=percent_pb2.FractionalPercent.MILLION
    )


def route_fault(fault: Fault) -> fault_pb2.HTTPFault:
    """Per-route fault config; the HCM's fault filter itself carries none, so other routes are untouched."""
    config = fault_pb2.HTTPFault()
    if fault.abort_percent > 0:
        config.abort.CopyFrom(
            fault_pb2.FaultAbort(http_status=fault.abort_status, percentage=_share(fault.abort_percent))
        )
    if fault.delay_ms > 0:
        config.delay.CopyFrom(
            common_fault.FaultDelay(fixed_delay=millis(fault.delay_ms), percentage=_share(fault.delay_percent))
        )
    return config


def fault_filter() -> hcm.HttpFilter:
    return hcm.HttpFilter(name=FAULT_FILTER, typed_config=typed(fault_pb2.HTTPFault()))
