"""Listener TLS with certificates from the test CA.

`secure` is STRICT with client validation (mTLS, client SAN `frontend.tls.local`);
`lenient` is PERMISSIVE without validation.  The frontend originates mTLS to both
through `backendDefaults.clientPolicy.tls`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from support import HttpUpstream, Lab, Leaf, MeshBuilder, Sidecar, TestCA, http_request, listener, tls_context

pytestmark = pytest.mark.envoy

SECURE = "secure.tls.local"
LENIENT = "lenient.tls.local"


@dataclass
class World:
    ca: TestCA
    frontend: Sidecar
    secure: Sidecar
    lenient: Sidecar
    secure_app: HttpUpstream
    client_leaf: Leaf


def _file_cert(leaf: Leaf) -> dict[str, dict[str, str]]:
    return {"file": {"certificateChain": str(leaf.chain), "privateKey": str(leaf.key)}}


@pytest.fixture(scope="module")
def world(lab: Lab, test_ca: TestCA) -> World:
    secure_leaf = test_ca.issue("secure", dns=(SECURE,))
    lenient_leaf = test_ca.issue("lenient", dns=(LENIENT,))
    client_leaf = test_ca.issue("frontend", dns=("frontend.tls.local",))
    trust = {"trust": {"file": {"certificateChain": str(test_ca.cert_path)}}}

    mesh = MeshBuilder("tls-mesh")
    mesh.node(
        "frontend",
        backends=(SECURE, LENIENT),
        backendDefaults={"clientPolicy": {"tls": {"certificate": _file_cert(client_leaf), "validation": trust}}},
    )
    strict = {
        "mode": "STRICT",
        "certificate": _file_cert(secure_leaf),
        "validation": {**trust, "subjectAlternativeNames": {"match": {"exact": ["frontend.tls.local"]}}},
    }
    mesh.node("secure", listener(8080, tls=strict))
    mesh.node("lenient", listener(8080, tls={"mode": "PERMISSIVE", "certificate": _file_cert(lenient_leaf)}))
    mesh.service(SECURE, node="secure")
    mesh.service(LENIENT, node="lenient")
    secure_ip, lenient_ip = lab.place(mesh, "secure"), lab.place(mesh, "lenient")
    secure_app = lab.http_app("secure", secure_ip, 8080)
    lab.http_app("lenient", lenient_ip, 8080)
    state = mesh.build()
    return World(
        ca=test_ca,
        frontend=lab.sidecar(state, "frontend", lab.address()),
        secure=lab.sidecar(state, "secure", secure_ip),
        lenient=lab.sidecar(state, "lenient", lenient_ip),
        secure_app=secure_app,
        client_leaf=client_leaf,
    )


def test_strict_refuses_a_plaintext_client(world: World) -> None:
    before = world.secure_app.hits()
    reply = http_request(world.secure.ingress, SECURE, "/")
    assert reply.status == 0, reply
    assert world.secure_app.hits() == before


def test_strict_accepts_a_client_with_a_certificate_from_the_test_ca(world: World) -> None:
    context = tls_context(world.ca.cert_path, world.client_leaf.chain, world.client_leaf.key)
    reply = http_request(world.secure.ingress, SECURE, "/", tls=context)
    assert reply.status == 200 and reply.upstream == "secure"


def test_strict_refuses_a_tls_client_without_a_certificate(world: World) -> None:
    reply = http_request(world.secure.ingress, SECURE, "/", tls=tls_context(world.ca.cert_path))
    assert reply.status == 0, reply


def test_strict_refuses_a_client_certificate_with_the_wrong_san(world: World) -> None:
    intruder = world.ca.issue("intruder", dns=("intruder.tls.local",))
    reply = http_request(
        world.secure.ingress, SECURE, "/", tls=tls_context(world.ca.cert_path, intruder.chain, intruder.key)
    )
    assert reply.status == 0, reply


def test_strict_refuses_a_client_certificate_from_another_ca(
    world: World, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = TestCA(tmp_path_factory.mktemp("other-ca"))
    stranger = other.issue("frontend", dns=("frontend.tls.local",))
    reply = http_request(
        world.secure.ingress, SECURE, "/", tls=tls_context(world.ca.cert_path, stranger.chain, stranger.key)
    )
    assert reply.status == 0, reply


def test_permissive_accepts_plaintext_and_tls(world: World) -> None:
    plain = http_request(world.lenient.ingress, LENIENT, "/")
    secured = http_request(world.lenient.ingress, LENIENT, "/", tls=tls_context(world.ca.cert_path))
    assert (plain.status, plain.upstream) == (200, "lenient")
    assert (secured.status, secured.upstream) == (200, "lenient")


@pytest.mark.parametrize("service", [SECURE, LENIENT])
def test_meshed_caller_reaches_tls_backends_through_its_sidecar(world: World, service: str) -> None:
    reply = http_request(world.frontend.egress, f"{service}:8080", "/")
    assert reply.status == 200 and reply.upstream == service.split(".")[0]
