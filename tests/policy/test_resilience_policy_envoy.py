"""What the zoneAware, outlierDetection, retryBudget and tracing sections put into a proxy's Envoy config.

The traffic tests (tests/traffic/test_policy_resilience.py, test_policy_tracing.py) prove the
behaviour; these pin the parts traffic cannot see: which proxies get the local cluster's
assignment, that other clusters keep their plain balancing, how the outlier detection merges
with App Mesh's, and that a mesh-wide section reaches gateways too (`envoy --mode validate`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.config.listener.v3.listener_pb2 import Listener
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from meshplane.graph import endpoint_dependencies
from meshplane.model.ids import Kind, ProxyId
from meshplane.model.policy.spec import PolicyData
from meshplane.model.policy.zone_aware import LOCAL_CLUSTER
from meshplane.model.state import MeshState
from meshplane.snapshot import consistency
from meshplane.snapshot.types import XdsType
from meshplane.translate import translate
from meshplane.translate.policy.tracing import COLLECTOR_CLUSTER, PROVIDER
from support import MeshBuilder, listener, validate_sidecar
from support.policies import policy

MESH = "resilience-config"
FRONT = ProxyId(MESH, Kind.VIRTUAL_NODE, "front")
EDGE = ProxyId(MESH, Kind.VIRTUAL_GATEWAY, "edge")
APP_MESH_DETECTION = {"maxServerErrors": 7, "interval": {"unit": "s", "value": 10},
                      "baseEjectionDuration": {"unit": "s", "value": 30}, "maxEjectionPercent": 20}  # fmt: skip


def _policy(name: str, target: dict[str, Any], **sections: Any) -> PolicyData:
    return policy(MESH, name, {"targets": [target], **sections})


def _node(name: str) -> dict[str, Any]:
    return {"virtualNode": {"virtualNodeName": name}}


def _state(*policies: PolicyData) -> MeshState:
    mesh = MeshBuilder(MESH)
    mesh.node("front", listener(8080), backends=("zoned.local", "plain.local"))
    mesh.node("zoned", listener(8080, outlierDetection=APP_MESH_DETECTION))
    mesh.node("plain", listener(8080))
    mesh.service("zoned.local", node="zoned").service("plain.local", node="plain")
    mesh.gateway("edge", {"listeners": [{"portMapping": {"port": 8088, "protocol": "http"}}]})
    for node, zone, address in (("front", "a", "10.0.1.1"), ("front", "b", "10.0.2.1"), ("zoned", "a", "10.0.1.2"),
                                ("zoned", "b", "10.0.2.2"), ("plain", "a", "10.0.1.3")):  # fmt: skip
        mesh.endpoint(node, address, zone=zone)
    return dataclasses.replace(mesh.build(), policies={p.policy_name: p for p in policies})


def _clusters(state: MeshState, proxy: ProxyId = FRONT) -> dict[str, Cluster]:
    return {name: c for name, c in translate(state, proxy).of(XdsType.CLUSTERS).items() if isinstance(c, Cluster)}


def _cluster(state: MeshState, node: str) -> Cluster:
    return _clusters(state)[f"cds_egress_{MESH}_{node}_http_8080"]


def test_only_a_proxy_with_a_zone_aware_upstream_gets_its_local_assignment() -> None:
    plain = translate(_state(), FRONT)
    assert LOCAL_CLUSTER not in plain.of(XdsType.ENDPOINTS)
    zoned = _state(_policy("zones", _node("zoned"), zoneAware={"minClusterSize": 2, "routingEnabledPercent": 80.0}))
    snapshot = translate(zoned, FRONT)
    local = snapshot.of(XdsType.ENDPOINTS)[LOCAL_CLUSTER]
    assert [(g.locality.zone, [e.endpoint.address.socket_address.address for e in g.lb_endpoints])
            for g in local.endpoints] == [("a", ["10.0.1.1"]), ("b", ["10.0.2.1"])]  # fmt: skip
    assert consistency.check(snapshot) == []
    config = _cluster(zoned, "zoned").common_lb_config.zone_aware_lb_config
    assert (config.min_cluster_size.value, config.routing_enabled.value) == (2, 80.0)
    # Envoy would balance every other cluster by zone too once the local cluster has hosts: not these.
    assert _cluster(zoned, "plain").common_lb_config.zone_aware_lb_config.routing_enabled.value == 0
    assert not _cluster(_state(), "plain").HasField("common_lb_config")
    # The callee itself calls nothing zone-aware: no local cluster there.
    assert LOCAL_CLUSTER not in translate(zoned, ProxyId(MESH, Kind.VIRTUAL_NODE, "zoned")).of(XdsType.ENDPOINTS)


def test_a_zone_aware_caller_depends_on_its_own_instances() -> None:
    assert endpoint_dependencies(_state(), FRONT) == {"zoned", "plain"}
    zoned = _state(_policy("zones", {"mesh": {}}, zoneAware={}))
    assert endpoint_dependencies(zoned, FRONT) == {"zoned", "plain", "front"}


def test_ejection_merges_onto_app_meshs_outlier_detection() -> None:
    section = {"successRate": {"minimumHosts": 3, "stdevFactor": 1.5}, "interval": {"value": 500, "unit": "ms"}}
    state = _state(_policy("eject", {"mesh": {}}, outlierDetection=section))
    kept = _cluster(state, "zoned").outlier_detection  # the listener's App Mesh detection stays
    assert (kept.consecutive_5xx.value, kept.base_ejection_time.seconds, kept.max_ejection_percent.value) == (7, 30, 20)
    assert kept.interval.ToMilliseconds() == 500  # the section's timing wins
    assert (kept.success_rate_minimum_hosts.value, kept.success_rate_stdev_factor.value) == (3, 1500)
    alone = _cluster(state, "plain").outlier_detection  # no App Mesh detection: only the section's algorithm
    assert alone.enforcing_consecutive_5xx.value == 0
    assert (alone.enforcing_success_rate.value, alone.success_rate_minimum_hosts.value) == (100, 3)
    assert not _cluster(_state(), "plain").HasField("outlier_detection")


def test_a_failure_percentage_section_is_enforced() -> None:
    section = {"failurePercentage": {"threshold": 30, "requestVolume": 20}}
    detection = _cluster(_state(_policy("grade", _node("plain"), outlierDetection=section)), "plain").outlier_detection
    assert (detection.failure_percentage_threshold.value, detection.enforcing_failure_percentage.value) == (30, 100)
    assert (detection.failure_percentage_request_volume.value, detection.enforcing_success_rate.value) == (20, 0)


def test_the_retry_budget_replaces_app_meshs_retry_count() -> None:
    budgeted = _cluster(_state(_policy("budget", _node("plain"), retryBudget={"budgetPercent": 10.0})), "plain")
    threshold = budgeted.circuit_breakers.thresholds[0]
    assert not threshold.HasField("max_retries")
    assert threshold.retry_budget.budget_percent.value == 10.0
    assert not threshold.retry_budget.HasField("min_retry_concurrency")  # Envoy's default (3)
    assert _cluster(_state(), "plain").circuit_breakers.thresholds[0].max_retries.value == 2**31 - 1


def _tracers(state: MeshState, proxy: ProxyId) -> list[hcm.HttpConnectionManager.Tracing]:
    out = []
    for listener_ in translate(state, proxy).of(XdsType.LISTENERS).values():
        assert isinstance(listener_, Listener)
        for chain in listener_.filter_chains:
            for network in chain.filters:
                manager = hcm.HttpConnectionManager()
                if network.typed_config.Unpack(manager):
                    out.append(manager.tracing)
    return out


def test_a_node_section_wins_over_the_mesh_one_and_gateways_trace_too(tmp_path: Path) -> None:
    collector = {"hostname": "otel.local", "port": 4317}
    state = _state(_policy("mesh-wide", {"mesh": {}}, tracing={"collector": collector, "samplingPercent": 5.0}),
                   _policy("front", _node("front"), tracing={"collector": collector, "serviceName": "web"}))
    front, edge = _tracers(state, FRONT), _tracers(state, EDGE)
    assert front and edge
    assert all(t.provider.name == PROVIDER and t.random_sampling.value == 100.0 for t in front)
    assert all(t.provider.name == PROVIDER and t.random_sampling.value == 5.0 for t in edge)
    assert COLLECTOR_CLUSTER in _clusters(state, EDGE)
    assert all(not t.HasField("provider") for t in _tracers(_state(), FRONT))  # the bootstrap's tracer
    for proxy in (FRONT, EDGE):
        validate_sidecar(state, proxy, tmp_path)


@pytest.mark.parametrize("proxy", [FRONT, ProxyId(MESH, Kind.VIRTUAL_NODE, "zoned")])
def test_every_section_at_once_passes_envoy_validate(proxy: ProxyId, tmp_path: Path) -> None:
    state = _state(_policy("all", _node("zoned"), zoneAware={}, retryBudget={"minRetryConcurrency": 1},
                           outlierDetection={"failurePercentage": {"threshold": 10}},
                           tracing={"collector": {"hostname": "10.0.9.9", "port": 4317}}))  # fmt: skip
    validate_sidecar(state, proxy, tmp_path)
