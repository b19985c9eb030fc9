"""`meshplane.io/` tags become Envoy settings; bad values are reported and ignored; configs pass Envoy."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from meshplane.graph import extensions as ext
from meshplane.graph import resolve
from meshplane.model.ids import Kind, ProxyId, ResourceKey
from meshplane.model.state import MeshState
from meshplane.snapshot.types import XdsType
from support import MeshBuilder, listener, target, validate_sidecar

from . import protos

MESH = "tags-mesh"
CALLER = ProxyId(MESH, Kind.VIRTUAL_NODE, "caller")
CLUSTER = f"cds_egress_{MESH}_backend_http_8080"


def _state(node_tags: dict[str, str], route_tags: dict[str, str] | None = None) -> MeshState:
    mesh = MeshBuilder(MESH)
    mesh.node("caller", backends=("api.tags.local",))
    mesh.node("backend", listener(8080))
    mesh.router("api-router", 8080)
    action = {"weightedTargets": [target("backend")]}
    mesh.route("api-router", "all", {"httpRoute": {"match": {"prefix": "/"}, "action": action}})
    mesh.service("api.tags.local", router="api-router")
    tags = {ResourceKey(Kind.VIRTUAL_NODE, MESH, "backend"): node_tags}
    if route_tags is not None:
        tags[ResourceKey(Kind.ROUTE, MESH, "all", "api-router")] = route_tags
    return dataclasses.replace(mesh.build(), tags=tags)


@pytest.mark.parametrize("policy", sorted(ext.LB_POLICIES))
def test_lb_policy_tag_sets_the_callers_cluster_policy(policy: str, tmp_path: Path) -> None:
    state = _state({ext.LB_POLICY: policy})
    cluster = protos.node(state, "caller").of(XdsType.CLUSTERS)[CLUSTER]
    assert cluster_pb2.Cluster.LbPolicy.Name(cluster.lb_policy) == policy
    validate_sidecar(state, CALLER, tmp_path)


def test_untagged_nodes_keep_app_meshs_round_robin() -> None:
    cluster = protos.node(_state({}), "caller").of(XdsType.CLUSTERS)[CLUSTER]
    assert cluster.lb_policy == cluster_pb2.Cluster.ROUND_ROBIN
    assert resolve(_state({}), CALLER)[0].problems == ()


def test_hash_header_becomes_the_route_hash_policy() -> None:
    state = _state({ext.LB_POLICY: "MAGLEV", ext.HASH_HEADER: "X-Session"})
    route = protos.vhost(protos.routes(protos.node(state, "caller"), "rds_egress_http_8080"), "api.tags.local:8080")
    assert [p.header.header_name for p in route.routes[0].route.hash_policy] == ["x-session"]


@pytest.mark.parametrize(
    ("node_tags", "route_tags", "reason"),
    [
        ({ext.LB_POLICY: "FASTEST"}, None, "is not one of"),
        ({ext.LB_POLICY: "RANDOM", ext.HASH_HEADER: "x"}, None, "needs"),
        ({}, {ext.ABORT_PERCENT: "150"}, "from 0 to 100"),
        ({}, {ext.DELAY_MS: "soon"}, "must be a number"),
    ],
)
def test_bad_tag_values_are_problems_and_ignored(
    node_tags: dict[str, str], route_tags: dict[str, str] | None, reason: str
) -> None:
    view, _ = resolve(_state(node_tags, route_tags), CALLER)
    assert len(view.problems) == 1 and reason in view.problems[0], view.problems
    assert all(r.fault is None for s in view.services for r in s.routes)


def test_fault_tags_render_a_per_route_fault_and_pass_envoy(tmp_path: Path) -> None:
    state = _state({}, {ext.ABORT_PERCENT: "12.5", ext.ABORT_STATUS: "500", ext.DELAY_MS: "20"})
    view, _ = resolve(state, CALLER)
    assert view.services[0].routes[0].fault == ext.Fault(abort_percent=12.5, abort_status=500, delay_ms=20)
    validate_sidecar(state, CALLER, tmp_path)
