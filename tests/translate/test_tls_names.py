"""The names in TLS contexts: SAN matchers typed by what the name is, SNI from the backend's service discovery."""

from __future__ import annotations

from pathlib import Path

import pytest
from envoy.extensions.transport_sockets.tls.v3 import common_pb2
from meshplane.model import shapes
from meshplane.translate.static import inline_bootstrap
from meshplane.translate.tls import san_matcher, server_name
from support import MeshBuilder, TestCA, listener, validate

from . import protos

URI, DNS = common_pb2.SubjectAltNameMatcher.URI, common_pb2.SubjectAltNameMatcher.DNS


@pytest.mark.parametrize(
    ("name", "kind"),
    [("spiffe://trust/ns/app", URI), ("https://id.example.com/app", URI), ("app.mesh.local", DNS), ("*.local", DNS)],
)
def test_san_matchers_are_typed_by_the_name(name: str, kind: int) -> None:
    matcher = san_matcher(name)
    assert (matcher.san_type, matcher.matcher.exact) == (kind, name)


def _dns(hostname: str) -> shapes.ServiceDiscovery:
    return shapes.ServiceDiscovery.model_validate({"dns": {"hostname": hostname}})


@pytest.mark.parametrize(
    ("discovery", "sni"),
    [
        (_dns("api.example.com"), "api.example.com"),
        (_dns("api.example.com."), "api.example.com"),
        (_dns("10.0.0.7"), ""),
        (_dns("::1"), ""),
        (_dns("not a host"), ""),
        (_dns("a" * 64 + ".example.com"), ""),
        (shapes.ServiceDiscovery.model_validate({"awsCloudMap": {"namespaceName": "ns.local", "serviceName": "pay"}}),
         "pay.ns.local"),
        (None, ""),
    ],
)  # fmt: skip
def test_sni_is_the_discovery_host_name(discovery: shapes.ServiceDiscovery | None, sni: str) -> None:
    assert server_name(discovery) == sni


def test_clusters_with_client_tls_carry_the_sni_and_envoy_accepts_them(tmp_path: Path) -> None:
    trust = {"trust": {"file": {"certificateChain": str(TestCA(tmp_path / "ca").cert_path)}}}
    validation = {**trust, "subjectAlternativeNames": {"match": {"exact": ["spiffe://trust/ns/api", "api.local"]}}}
    mesh = MeshBuilder("names")
    mesh.node("caller", backends=("api.local",), backendDefaults={"clientPolicy": {"tls": {"validation": validation}}})
    mesh.node("api", listener(8443), serviceDiscovery={"dns": {"hostname": "api.internal.example"}})
    mesh.service("api.local", node="api")
    snapshot = protos.node(mesh.build(), "caller")
    context = protos.upstream_tls(protos.cluster(snapshot, "cds_egress_names_api_http_8443"))
    assert context.sni == "api.internal.example"
    sans = context.common_tls_context.validation_context.match_typed_subject_alt_names
    assert [(m.san_type, m.matcher.exact) for m in sans] == [(URI, "spiffe://trust/ns/api"), (DNS, "api.local")]
    validate(inline_bootstrap(snapshot), tmp_path)
