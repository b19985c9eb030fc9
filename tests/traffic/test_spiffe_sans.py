"""SPIFFE IDs in `subjectAlternativeNames.match.exact` match URI SANs, in real handshakes on both sides.

SPIRE issues certificates whose only name is a SPIFFE ID (a URI SAN), so App Mesh let both a
listener's client validation and a backend client policy list them.  `secure` accepts the
frontend's SPIFFE ID and a DNS name; the frontend's client policy accepts only the SPIFFE ID
of `secure`, so it refuses `impostor`, whose certificate is from the same CA.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from support import Lab, Leaf, MeshBuilder, Sidecar, TestCA, http_request, listener, tls_context

pytestmark = pytest.mark.envoy

SECURE, IMPOSTOR = "secure.spiffe.local", "impostor.spiffe.local"
APP_ID, SECURE_ID = "spiffe://trust/ns/app", "spiffe://trust/ns/secure"
DNS_CLIENT = "frontend.spiffe.local"


@dataclass
class World:
    ca: TestCA
    frontend: Sidecar
    secure: Sidecar


def _file_cert(leaf: Leaf) -> dict[str, dict[str, str]]:
    return {"file": {"certificateChain": str(leaf.chain), "privateKey": str(leaf.key)}}


@pytest.fixture(scope="module")
def world(lab: Lab, test_ca: TestCA) -> World:
    trust = {"trust": {"file": {"certificateChain": str(test_ca.cert_path)}}}
    app = test_ca.issue("app", uris=(APP_ID,))
    mesh = MeshBuilder("spiffe-mesh")
    mesh.node(
        "frontend",
        backends=(SECURE, IMPOSTOR),
        backendDefaults={
            "clientPolicy": {
                "tls": {
                    "certificate": _file_cert(app),
                    "validation": {**trust, "subjectAlternativeNames": {"match": {"exact": [SECURE_ID]}}},
                }
            }
        },
    )
    strict = {
        "mode": "STRICT",
        "certificate": _file_cert(test_ca.issue("secure", uris=(SECURE_ID,))),
        "validation": {**trust, "subjectAlternativeNames": {"match": {"exact": [APP_ID, DNS_CLIENT]}}},
    }
    mesh.node("secure", listener(8080, tls=strict))
    impostor_leaf = test_ca.issue("impostor", uris=("spiffe://trust/ns/impostor",))
    impostor_tls = {"mode": "STRICT", "certificate": _file_cert(impostor_leaf)}
    mesh.node("impostor", listener(8080, tls=impostor_tls))
    mesh.service(SECURE, node="secure")
    mesh.service(IMPOSTOR, node="impostor")
    secure_ip, impostor_ip = lab.place(mesh, "secure"), lab.place(mesh, "impostor")
    lab.http_app("secure", secure_ip, 8080)
    lab.http_app("impostor", impostor_ip, 8080)
    state = mesh.build()
    lab.sidecar(state, "impostor", impostor_ip)
    return World(
        ca=test_ca,
        frontend=lab.sidecar(state, "frontend", lab.address()),
        secure=lab.sidecar(state, "secure", secure_ip),
    )


def _as_client(world: World, leaf: Leaf) -> int:
    context = tls_context(world.ca.cert_path, leaf.chain, leaf.key)
    reply = http_request(world.secure.ingress, SECURE, "/", tls=context)
    return reply.status if reply.upstream == "secure" else -reply.status


def test_listener_accepts_a_client_whose_spiffe_id_is_listed(world: World) -> None:
    assert _as_client(world, world.ca.issue("listed", uris=(APP_ID,))) == 200


def test_listener_refuses_a_client_with_another_spiffe_id(world: World) -> None:
    assert _as_client(world, world.ca.issue("unlisted", uris=("spiffe://trust/ns/other",))) == 0


def test_listener_refuses_a_listed_spiffe_id_carried_as_a_dns_name(world: World) -> None:
    """The ID must be the certificate's URI SAN: the same text under another SAN type proves nothing."""
    assert _as_client(world, world.ca.issue("as-dns", dns=(APP_ID,))) == 0


def test_listener_still_matches_dns_names(world: World) -> None:
    assert _as_client(world, world.ca.issue("dns-client", dns=(DNS_CLIENT,))) == 200
    assert _as_client(world, world.ca.issue("dns-other", dns=("other.spiffe.local",))) == 0


def test_client_policy_accepts_a_backend_with_the_listed_spiffe_id(world: World) -> None:
    """Both sides at once: the frontend checks `secure`'s SPIFFE ID, `secure` checks the frontend's."""
    reply = http_request(world.frontend.egress, f"{SECURE}:8080", "/")
    assert (reply.status, reply.upstream) == (200, "secure")


def test_client_policy_refuses_a_backend_with_another_spiffe_id(world: World) -> None:
    reply = http_request(world.frontend.egress, f"{IMPOSTOR}:8080", "/")
    assert reply.status == 503 and reply.upstream is None
