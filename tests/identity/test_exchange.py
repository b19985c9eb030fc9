"""The exchange endpoint over real HTTPS: a certificate only for a principal IAM lets be that node, App Mesh's
error shapes for everything else, and bounds that keep it up under floods and oversized bodies."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from meshplane.identity.agent import make_csr
from meshplane.identity.ca import NodeCA
from meshplane.identity.client import ExchangeRefused, client_context, request_credentials
from meshplane.identity.proof import key_digest, sign_proof
from meshplane.identity.server import NodeIdentity

from .conftest import NODE, NODE_ARN, REGION, SERVER, Aws, GrantingIam, serving


@pytest.fixture
def identity(aws: Aws, iam: GrantingIam) -> Iterator[NodeIdentity]:
    with serving(aws, iam, max_connections=4, connection_timeout_s=1.0) as served:
        yield served


def ask(aws: Aws, identity: NodeIdentity, credentials: Any, node_id: str = NODE, **proof: Any) -> tuple[Any, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    made = {"url": aws.endpoint, "region": REGION, "server_id": SERVER,
            "public_key_sha256": key_digest(key.public_key()), **proof}  # fmt: skip
    issued = request_credentials(("127.0.0.1", identity.port), SERVER, identity.ca.certificate_pem, node_id,
                                 make_csr(key, node_id), sign_proof(credentials, **made))  # fmt: skip
    return key, issued


def raw(identity: NodeIdentity, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
        ) -> tuple[int, str, dict[str, Any]]:  # fmt: skip
    context = client_context(identity.ca.certificate_pem)
    connection = http.client.HTTPSConnection("127.0.0.1", identity.port, context=context, timeout=5)
    context.check_hostname = False
    connection.request(method, path, body, headers or {})
    response = connection.getresponse()
    document = json.loads(response.read() or b"{}")
    connection.close()
    return response.status, response.getheader("x-amzn-ErrorType") or "", document


def test_a_permitted_principal_gets_a_short_lived_certificate_for_its_own_key(aws, iam, identity) -> None:
    role, credentials = aws.role(path="/mesh/")
    iam.grants.add((role, NODE_ARN))
    key, issued = ask(aws, identity, credentials)
    certificate = x509.load_pem_x509_certificate(issued.chain.encode())
    assert certificate.public_key() == key.public_key()
    sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.UniformResourceIdentifier) == [NODE_ARN, role]
    assert issued.ca_bundle == identity.ca.certificate_pem.decode()
    assert abs(issued.expires_at - (time.time() + 3600)) < 60
    assert iam.simulations == [(role, NODE_ARN)]


def test_a_principal_without_stream_permission_on_that_node_is_forbidden(aws, iam, identity) -> None:
    role, credentials = aws.role()
    iam.grants.add((role, NODE_ARN.replace("front", "back")))
    with pytest.raises(ExchangeRefused) as refused:
        ask(aws, identity, credentials)
    assert (refused.value.status, refused.value.error_type) == (403, "ForbiddenException")
    assert refused.value.message == (
        f"User: {role} is not authorized to perform: appmesh:StreamAggregatedResources on resource: {NODE_ARN}"
    )


FOREIGN = [NODE_ARN.replace("123456789012", "999999999999"), NODE_ARN.replace(REGION, "eu-west-1"),
           NODE_ARN.replace("arn:aws:", "arn:aws-cn:")]  # fmt: skip


@pytest.mark.parametrize("foreign", FOREIGN)
def test_a_node_arn_of_another_account_or_region_is_forbidden_whatever_iam_says(aws, iam, identity, foreign) -> None:
    role, credentials = aws.role()
    iam.grants.update({(role, foreign), (role, NODE_ARN)})
    with pytest.raises(ExchangeRefused) as refused:
        ask(aws, identity, credentials, node_id=foreign)
    assert (refused.value.status, refused.value.error_type) == (403, "ForbiddenException")
    assert "is not a node of account 123456789012" in refused.value.message
    assert iam.simulations == []


def test_a_replayed_request_is_refused(aws, iam, identity) -> None:
    role, credentials = aws.role()
    iam.grants.add((role, NODE_ARN))
    key = ec.generate_private_key(ec.SECP256R1())
    proof = sign_proof(credentials, aws.endpoint, REGION, SERVER, key_digest(key.public_key()))
    body = json.dumps({"nodeId": NODE, "csr": make_csr(key, NODE), "proof": proof.model_dump()}).encode()
    assert raw(identity, "POST", "/v1/credentials", body)[0] == 200
    status, kind, document = raw(identity, "POST", "/v1/credentials", body)
    assert (status, kind) == (403, "ForbiddenException") and "already used" in document["message"]


def test_a_proof_for_another_server_id_is_refused(aws, iam, identity) -> None:
    role, credentials = aws.role()
    iam.grants.add((role, NODE_ARN))
    with pytest.raises(ExchangeRefused, match="made for server 'other'"):
        ask(aws, identity, credentials, server_id="other")


PROOF = {"method": "POST", "url": "u", "headers": {}, "body": ""}


@pytest.mark.parametrize(("body", "field"), [
    (b"not json", "JSON object"),
    (json.dumps({"nodeId": NODE, "proof": {}}).encode(), "csr: Field required"),
    (json.dumps({"nodeId": "web-1", "csr": "x", "proof": PROOF}).encode(), "nodeId: "),
    (json.dumps({"nodeId": NODE, "csr": "x", "proof": PROOF}).encode(), "csr must be one PEM"),
    (json.dumps({"nodeId": NODE, "csr": "x", "proof": PROOF, "admin": True}).encode(), "admin: Extra inputs"),
])  # fmt: skip
def test_malformed_requests_are_bad_requests_naming_the_field(identity, body: bytes, field: str) -> None:
    status, kind, document = raw(identity, "POST", "/v1/credentials", body)
    assert (status, kind) == (400, "BadRequestException")
    assert field in document["message"]


def test_the_ca_is_served_and_unknown_paths_are_not_found(identity) -> None:
    assert raw(identity, "GET", "/v1/ca")[2] == {"caBundle": identity.ca.certificate_pem.decode()}
    assert raw(identity, "DELETE", "/v1/credentials")[:2] == (404, "NotFoundException")


def test_an_oversized_body_is_refused_unread_and_the_server_stays_up(identity) -> None:
    status, kind, document = raw(identity, "POST", "/v1/credentials", b"{}", {"Content-Length": str(10**9)})
    assert (status, kind) == (400, "BadRequestException") and "exceeds 65536 bytes" in document["message"]
    status, kind, _ = raw(identity, "POST", "/v1/credentials", b"{", {"Transfer-Encoding": "chunked"})
    assert (status, kind) == (400, "BadRequestException")
    assert raw(identity, "GET", "/v1/ca")[0] == 200


def test_connections_beyond_the_bound_are_closed_at_once_and_idle_ones_cut_at_the_deadline(aws, iam, identity) -> None:
    port = identity.port
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]  # no TLS handshake: they hold slots
    time.sleep(0.2)
    extra = [socket.create_connection(("127.0.0.1", port), timeout=2) for _ in range(20)]
    started = time.monotonic()
    assert all(s.recv(1) == b"" for s in extra), "closed without being served"
    assert time.monotonic() - started < 1.0
    assert identity.refused_connections == 20
    for s in idle:
        s.settimeout(3)
        assert s.recv(1) == b"", "the idle connection was cut at its deadline"
    role, credentials = aws.role()
    iam.grants.add((role, NODE_ARN))
    assert ask(aws, identity, credentials)[1].chain
    for s in idle + extra:
        s.close()


def test_plaintext_gets_no_answer_a_client_trusting_another_ca_refuses_the_server_and_it_stays_up(identity) -> None:
    with socket.create_connection(("127.0.0.1", identity.port), timeout=3) as plain:
        plain.sendall(b"POST /v1/credentials HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        try:
            answer = plain.recv(4096)
        except ConnectionResetError:
            answer = b""
        assert not answer.startswith(b"HTTP/"), "no HTTP answer without TLS"
    with pytest.raises(ssl.SSLCertVerificationError):
        request_credentials(("127.0.0.1", identity.port), SERVER, NodeCA.generate().certificate_pem, NODE, "",
                            sign_proof(*_dummy_proof_args()))  # fmt: skip
    assert raw(identity, "GET", "/v1/ca")[0] == 200


def _dummy_proof_args() -> tuple[Any, ...]:
    from botocore.credentials import ReadOnlyCredentials

    return ReadOnlyCredentials("a", "b", None), "http://127.0.0.1:1/", REGION, SERVER, "00" * 32
