"""inline_bootstrap makes one snapshot self-contained; consistency catches dangling references."""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2
from google.protobuf import json_format
from meshplane.model.ids import Kind, ProxyId
from meshplane.snapshot.consistency import check
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.types import XdsType
from meshplane.translate import translate
from meshplane.translate.envoy_check import validate
from meshplane.translate.static import inline_bootstrap
from support import MeshBuilder, listener

from . import protos

CA_ARN = "arn:aws:acm-pca:us-west-2:111122223333:certificate-authority/abc"


def _acm_mesh():
    acm = {"clientPolicy": {"tls": {"validation": {"trust": {"acm": {"certificateAuthorityArns": [CA_ARN]}}}}}}
    return (
        MeshBuilder("static")
        .node("front", listener(8080), backends=("back.local",), backendDefaults=acm)
        .node("back", listener(9090))
        .service("back.local", node="back")
        .endpoint("back", "10.0.0.9")
        .build()
    )


def _front() -> Snapshot:
    return translate(_acm_mesh(), ProxyId("static", Kind.VIRTUAL_NODE, "front"))


def test_acm_trust_is_an_ads_secret_and_a_snapshot_without_it_is_inconsistent() -> None:
    assert check(_front()) == [
        f"secret {CA_ARN!r} is referenced by cluster cds_egress_static_back_http_9090 but missing"
    ]


def _with_ca_secret(snapshot: Snapshot, pem: str) -> Snapshot:
    secret = secret_pb2.Secret(
        name=CA_ARN,
        validation_context=common_pb2.CertificateValidationContext(trusted_ca=base_pb2.DataSource(inline_string=pem)),
    )
    resources = {kind: dict(snapshot.of(kind)) for kind in XdsType}
    resources[XdsType.SECRETS][CA_ARN] = secret
    return Snapshot.build(snapshot.node_id, resources)


def test_inline_bootstrap_is_self_contained_and_moves_the_proxy_to_its_bind_address(tmp_path) -> None:
    from support import TestCA

    ca = TestCA(tmp_path)
    snapshot = _with_ca_secret(_front(), ca.cert_path.read_text())
    assert check(snapshot) == []
    boot = inline_bootstrap(snapshot, bind_address="127.77.0.9", admin_port=0)
    document = json_format.MessageToJson(boot)
    assert '"ads"' not in document and '"rds"' not in document and "edsClusterConfig" not in document
    assert {li.address.socket_address.address for li in boot.static_resources.listeners} == {"127.77.0.9"}
    clusters = {c.name: c for c in boot.static_resources.clusters}
    back = clusters["cds_egress_static_back_http_9090"]
    assert back.type == cluster_pb2.Cluster.STATIC
    assert back.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address == "10.0.0.9"
    app = clusters["cds_ingress_static_front_http_8080"].load_assignment.endpoints[0].lb_endpoints[0]
    assert app.endpoint.address.socket_address.address == "127.77.0.9"
    assert [s.name for s in boot.static_resources.secrets] == [CA_ARN]
    tags = {t.tag_name: t.fixed_value for t in boot.stats_config.stats_tags if t.fixed_value}
    assert tags == {"appmesh.mesh": "static", "appmesh.virtual_node": "front"}
    egress = next(li for li in boot.static_resources.listeners if li.name == "lds_egress_0.0.0.0_15001")
    direct = next(c for c in egress.filter_chains if c.name == "direct")
    assert protos.manager(direct).route_config.name == "rds_egress_http_15001"
    validate(boot)


def test_consistency_reports_dangling_and_orphaned_names() -> None:
    good = translate(
        MeshBuilder("c")
        .node("a", listener(1), backends=("b.local",))
        .node("b", listener(2))
        .service("b.local", node="b")
        .build(),
        ProxyId("c", Kind.VIRTUAL_NODE, "a"),
    )
    resources = {kind: dict(good.of(kind)) for kind in XdsType}
    del resources[XdsType.ENDPOINTS]["cds_egress_c_b_http_2"]
    del resources[XdsType.ROUTES]["rds_ingress_http_1"]
    resources[XdsType.ROUTES]["rds_orphan"] = type(good.of(XdsType.ROUTES)["rds_egress_http_2"])(name="rds_orphan")
    twin = type(good.of(XdsType.LISTENERS)["lds_ingress_0.0.0.0_15000"])()
    twin.CopyFrom(good.of(XdsType.LISTENERS)["lds_ingress_0.0.0.0_15000"])
    twin.name = "twin"
    resources[XdsType.LISTENERS]["twin"] = twin
    problems = check(Snapshot.build(good.node_id, resources))
    assert problems == [
        "listeners lds_ingress_0.0.0.0_15000 and twin both bind 0.0.0.0:15000",
        "EDS 'cds_egress_c_b_http_2' is referenced by a cluster but missing",
        "RDS 'rds_ingress_http_1' is referenced by listener lds_ingress_0.0.0.0_15000 but missing",
        "RDS 'rds_orphan' is sent but no listener uses it",
    ]


def test_connection_managers_turn_tracing_on_naming_no_provider_and_envoy_accepts_them() -> None:
    """The provider is the bootstrap's (X-Ray, Datadog, Jaeger or none); with none, Envoy makes no spans."""
    boot = inline_bootstrap(_front_without_tls())
    managers = [protos.manager(chain) for li in boot.static_resources.listeners for chain in li.filter_chains
                if chain.filters[0].name.endswith("http_connection_manager")]  # fmt: skip
    assert managers
    assert all(m.HasField("tracing") and not m.tracing.HasField("provider") for m in managers)
    assert {m.stat_prefix for m in managers} == {"ingress.http.8080", "egress"}
    assert not boot.HasField("tracing")
    validate(boot)


def _front_without_tls() -> Snapshot:
    state = MeshBuilder("static").node("front", listener(8080)).build()
    return translate(state, ProxyId("static", Kind.VIRTUAL_NODE, "front"))
