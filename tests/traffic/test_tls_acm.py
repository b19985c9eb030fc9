"""ACM certificates and ACM PCA trust, exported as the pipeline does, served by real Envoy.

The certificates come out of (moto's) `acm:ExportCertificate` with the private key
still encrypted; Envoy opens it with the secret's `password`.  `frontend` trusts the
PCA towards `secure`; `stranger` trusts another PCA and must not get through.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from meshplane.model.ids import Kind, ProxyId
from meshplane.model.state import MeshState
from meshplane.pipeline.acm import AcmSecrets
from meshplane.pipeline.acm_boto import BotoAcm
from meshplane.pipeline.wiring import Clients
from meshplane.snapshot.types import XdsType
from meshplane.translate import translate
from meshplane.translate.static import inline_bootstrap
from moto import mock_aws
from support import Lab, MeshBuilder, Sidecar, TestCA, http_request, listener, tls_context, validate
from support.acm import REGION, MotoPrivateCa

pytestmark = pytest.mark.envoy

SECURE = "secure.acm.local"


@dataclass
class World:
    ca: TestCA
    frontend: Sidecar
    stranger: Sidecar
    secure: Sidecar


@pytest.fixture(scope="module")
def aws() -> Iterator[Clients]:
    patch = pytest.MonkeyPatch()
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": REGION}.items():
        patch.setenv(name, value)
    patch.delenv("AWS_ENDPOINT_URL", raising=False)
    try:
        with mock_aws():
            session = boto3.session.Session(region_name=REGION)
            yield Clients(dynamodb=None, s3=None, events=None, ecs=None, servicediscovery=None, ec2=None,
                          acm=session.client("acm"), acm_pca=session.client("acm-pca"))
    finally:
        patch.undo()


def acm_sidecar(lab: Lab, clients: Clients, state: MeshState, name: str, address: str) -> Sidecar:
    """Translate, add the ACM secrets as the pipeline does, validate with Envoy, and start it."""
    proxy = ProxyId(state.name, Kind.VIRTUAL_NODE, name)
    resolved = AcmSecrets(BotoAcm(clients)).resolve(translate(state, proxy), lambda: None, {})
    assert resolved.problems == () and resolved.snapshot.of(XdsType.SECRETS)
    bootstrap = inline_bootstrap(resolved.snapshot, admin_address=address, admin_port=0, bind_address=address,
                                 node_id=proxy.path)
    validate(bootstrap, lab.workdir / f"validate-{name}")
    return Sidecar(proxy, address, lab.runner.start(bootstrap, name=f"{name}@{address}"))


@pytest.fixture(scope="module")
def world(lab: Lab, test_ca: TestCA, aws: Clients, tmp_path_factory: pytest.TempPathFactory) -> World:
    pca = MotoPrivateCa(test_ca, aws.acm, aws.acm_pca)
    other = MotoPrivateCa(TestCA(tmp_path_factory.mktemp("other-pca"), "other CA"), aws.acm, aws.acm_pca, "other")
    certificate = pca.issue("secure", (SECURE,))

    def trusting(authority: str) -> dict[str, object]:
        return {"clientPolicy": {"tls": {"validation": {"trust": {"acm": {"certificateAuthorityArns": [authority]}}}}}}

    mesh = MeshBuilder("acm-tls-mesh")
    mesh.node("frontend", backends=(SECURE,), backendDefaults=trusting(pca.arn))
    mesh.node("stranger", backends=(SECURE,), backendDefaults=trusting(other.arn))
    mesh.node("secure", listener(8080, tls={"mode": "STRICT", "certificate": {"acm": {"certificateArn": certificate}}}))
    mesh.service(SECURE, node="secure")
    secure_ip = lab.place(mesh, "secure")
    lab.http_app("secure", secure_ip, 8080)
    state = mesh.build()
    return World(
        ca=test_ca,
        frontend=acm_sidecar(lab, aws, state, "frontend", lab.address()),
        stranger=acm_sidecar(lab, aws, state, "stranger", lab.address()),
        secure=acm_sidecar(lab, aws, state, "secure", secure_ip),
    )


def test_a_caller_trusting_the_pca_reaches_a_listener_serving_an_exported_acm_certificate(world: World) -> None:
    reply = http_request(world.frontend.egress, f"{SECURE}:8080", "/")
    assert reply.status == 200 and reply.upstream == "secure", reply


def test_a_caller_trusting_another_ca_is_refused(world: World) -> None:
    reply = http_request(world.stranger.egress, f"{SECURE}:8080", "/")
    assert reply.status != 200 and reply.upstream != "secure", reply


def test_the_listener_presents_the_acm_certificate_chained_to_the_ca(world: World, tmp_path: Path) -> None:
    reply = http_request(world.secure.ingress, SECURE, "/", tls=tls_context(world.ca.cert_path))
    assert reply.status == 200 and reply.upstream == "secure", reply
