"""ADS over TLS with client certificates: a certificate only opens streams for the proxy it names.

With node identity, a node certificate opens streams only for the node it names, only
while IAM still lets its principal be that node, and only with that node's own config
and secrets, whatever names, wildcards or Delta subscriptions the client asks for.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from authz.iamlab import IamLab, iam_lab
from cryptography import x509
from meshplane.delivery.server.ads import TlsFiles
from meshplane.identity.ca import NodeCA
from meshplane.identity.server import NodeIdentity
from meshplane.identity.serverkeys import IssuedServerKeys
from meshplane.snapshot.types import XdsType
from support import TestCA

from .harness import Aws, Publisher, ThreadedAds
from .rawclient import RawStream, delta, names, sotw
from .secure import (
    SERVER,
    STREAM,
    NodeCertificate,
    issue,
    lab_aws,
    node_arn,
    node_identity,
    revoke,
    role_for,
    tls_stream,
)
from .snapshots import snapshot

CDS = XdsType.CLUSTERS.type_url
SDS = XdsType.SECRETS.type_url
RDS = XdsType.ROUTES.type_url
EDS = XdsType.ENDPOINTS.type_url


@pytest.fixture
def ca(tmp_path: Path) -> TestCA:
    return TestCA(tmp_path / "pki")


@pytest.fixture
def tls_ads(aws: Aws, ca: TestCA) -> Iterator[ThreadedAds]:
    server_leaf = ca.issue("ads", dns=("ads.meshplane.test",), ips=("127.0.0.1",))
    server = ThreadedAds(aws, tls=TlsFiles(str(server_leaf.chain), str(server_leaf.key), str(ca.cert_path)))
    try:
        yield server
    finally:
        server.stop()


def client(ads: ThreadedAds, ca: TestCA, identity: str | None) -> RawStream:
    chain = key = None
    if identity is not None:
        leaf = ca.issue(identity.replace("/", "-"), uris=(identity,))
        chain, key = leaf.chain.read_bytes(), leaf.key.read_bytes()
    credentials = grpc.ssl_channel_credentials(ca.cert_path.read_bytes(), key, chain)
    return RawStream(ads.address, credentials=credentials, authority="ads.meshplane.test")


def test_a_certificate_naming_the_proxy_gets_its_config(tls_ads, ca, publisher: Publisher, aws: Aws) -> None:
    node = f"mesh/{aws.bucket}/virtualNode/a"
    publisher.publish(snapshot(node, "a"))
    stream = client(tls_ads, ca, node)
    try:
        stream.send(sotw(CDS, node))
        assert names(stream.recv()) == ["cds_a_1", "cds_a_2"]
    finally:
        stream.close()


def test_a_certificate_of_another_proxy_is_permission_denied(tls_ads, ca, publisher: Publisher, aws: Aws) -> None:
    a, b = f"mesh/{aws.bucket}/virtualNode/a", f"mesh/{aws.bucket}/virtualNode/b"
    publisher.publish(snapshot(a, "a"))
    stream = client(tls_ads, ca, b)
    try:
        stream.send(sotw(CDS, a))
        assert stream.status() == grpc.StatusCode.PERMISSION_DENIED
        assert "does not identify" in stream.error.details()
    finally:
        stream.close()


def test_a_client_without_a_certificate_cannot_connect(tls_ads, ca, publisher: Publisher, aws: Aws) -> None:
    node = f"mesh/{aws.bucket}/virtualNode/a"
    publisher.publish(snapshot(node, "a"))
    stream = client(tls_ads, ca, None)
    try:
        stream.send(sotw(CDS, node))
        assert stream.status() == grpc.StatusCode.UNAVAILABLE
    finally:
        stream.close()


# --- node identity: certificates of the node CA, IAM decisions from the emulator's policy simulator ----------


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IamLab]:
    with iam_lab(tmp_path_factory.mktemp("iam")) as opened:
        yield opened


@pytest.fixture
def secure(lab: IamLab) -> Iterator[tuple[ThreadedAds, NodeIdentity, Publisher, Aws]]:
    aws = lab_aws(lab)
    identity = node_identity(lab, decision_ttl=1.0)
    server = ThreadedAds(aws, identity=identity)
    try:
        yield server, identity, Publisher(aws), aws
    finally:
        server.stop()


@pytest.fixture
def nodes(secure) -> tuple[str, str]:
    _, _, publisher, aws = secure
    a, b = f"mesh/{aws.bucket}/virtualNode/a", f"mesh/{aws.bucket}/virtualNode/b"
    publisher.publish(snapshot(a, "a"))
    publisher.publish(snapshot(b, "b"))
    return a, b


@pytest.fixture
def streams() -> Iterator[list[RawStream]]:
    opened: list[RawStream] = []
    yield opened
    for stream in opened:
        stream.close()


def open_as(secure, streams: list[RawStream], certificate: NodeCertificate | None, **options: Any) -> RawStream:
    server, identity, _, _ = secure
    stream = tls_stream(server.address, identity.ca, certificate, **options)
    streams.append(stream)
    return stream


def test_a_node_certificate_whose_principal_may_be_the_node_gets_its_config(secure, nodes, streams, lab) -> None:
    a, _ = nodes
    stream = open_as(secure, streams, issue(secure[1].ca, node_arn(a), role_for(lab, a)))
    stream.send(sotw(CDS, a))
    assert names(stream.recv()) == ["cds_a_1", "cds_a_2"]


@pytest.mark.parametrize("form", ["path", "arn"])
def test_node_as_certificate_cannot_open_a_stream_as_b(secure, nodes, streams, lab, form: str) -> None:
    a, b = nodes
    stream = open_as(secure, streams, issue(secure[1].ca, node_arn(a), role_for(lab, a, b)))
    stream.send(sotw(SDS, b if form == "path" else node_arn(b), names=("secret_b",)))
    assert stream.status() == grpc.StatusCode.PERMISSION_DENIED
    assert "does not identify" in stream.error.details()


def test_node_as_certificate_gets_none_of_bs_resources_or_secrets_by_name_wildcard_or_delta(
    secure, nodes, streams, lab
) -> None:
    a, _ = nodes
    certificate = issue(secure[1].ca, node_arn(a), role_for(lab, a))
    stream = open_as(secure, streams, certificate)
    stream.send(sotw(SDS, a, names=("secret_b", "secret_a")))
    secrets = stream.recv()
    assert names(secrets) == ["secret_a"]
    assert b"PRIVATE KEY OF b" not in secrets.SerializeToString()
    stream.send(sotw(SDS, names=("secret_b", "secret_a"), version=secrets.version_info, nonce=secrets.nonce))
    stream.send(sotw(RDS, names=("rds_b_1", "rds_b_2")))
    assert names(stream.recv()) == [], "foreign names are answered with nothing"
    stream.send(sotw(CDS))
    assert names(stream.recv()) == ["cds_a_1", "cds_a_2"], "a wildcard means the node's own"
    stream.send(sotw(EDS, names=("cds_b_1",)))
    assert names(stream.recv()) == []
    delta_stream = open_as(secure, streams, certificate, delta=True)
    delta_stream.send(delta(SDS, a, subscribe=("secret_b",)))
    answer = delta_stream.recv()
    assert list(answer.resources) == [] and list(answer.removed_resources) == ["secret_b"]
    delta_stream.send(delta(SDS, subscribe=("*",), nonce=answer.nonce))
    wildcard = delta_stream.recv()
    assert [r.name for r in wildcard.resources] == ["secret_a"]
    delta_stream.send(delta(SDS, nonce=wildcard.nonce))
    delta_stream.send(delta(RDS, subscribe=("rds_b_1",)))
    routes = delta_stream.recv()
    assert list(routes.resources) == [] and list(routes.removed_resources) == ["rds_b_1"]


# a node id of another account or region: refused when the stream is identified, or when it is authorized
FOREIGN = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED)


@pytest.mark.parametrize(("node_id", "code"), [
    ("", grpc.StatusCode.INVALID_ARGUMENT),
    ("mesh/x/virtualService/a", grpc.StatusCode.INVALID_ARGUMENT),
    ("arn:aws:appmesh:us-east-1:999999999999:{a}", FOREIGN),
    ("arn:aws:appmesh:eu-west-1:123456789012:{a}", FOREIGN),
    ("arn:aws-cn:appmesh:us-east-1:123456789012:{a}", FOREIGN),
])  # fmt: skip
def test_forged_and_malformed_node_ids_on_a_valid_certificate_are_refused(secure, nodes, streams, lab, node_id,
                                                                         code) -> None:  # fmt: skip
    a, _ = nodes
    stream = open_as(secure, streams, issue(secure[1].ca, node_arn(a), role_for(lab, a)))
    stream.send(sotw(CDS, node_id.format(a=a)))
    assert stream.status() in (code if isinstance(code, tuple) else (code,))


def test_a_certificate_for_a_node_nothing_was_published_for_is_not_found(secure, nodes, streams, lab) -> None:
    unknown = f"mesh/{secure[3].bucket}/virtualNode/never-published"
    stream = open_as(secure, streams, issue(secure[1].ca, node_arn(unknown), role_for(lab, unknown)))
    stream.send(sotw(CDS, unknown))
    assert stream.status() == grpc.StatusCode.NOT_FOUND


def test_plaintext_and_certificate_less_clients_cannot_connect(secure, nodes, streams) -> None:
    a, _ = nodes
    plain = RawStream(secure[0].address)
    streams.append(plain)
    plain.send(sotw(CDS, a))
    assert plain.status() == grpc.StatusCode.UNAVAILABLE
    anonymous = open_as(secure, streams, None)
    anonymous.send(sotw(CDS, a))
    assert anonymous.status() == grpc.StatusCode.UNAVAILABLE


def test_an_expired_certificate_and_one_of_another_ca_are_refused_by_tls(secure, nodes, streams, lab) -> None:
    a, _ = nodes
    role = role_for(lab, a)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    expired = open_as(secure, streams, issue(secure[1].ca, node_arn(a), role, now=long_ago))
    expired.send(sotw(CDS, a))
    assert expired.status() == grpc.StatusCode.UNAVAILABLE
    forged = open_as(secure, streams, issue(NodeCA.generate(), node_arn(a), role))
    forged.send(sotw(CDS, a))
    assert forged.status() == grpc.StatusCode.UNAVAILABLE


def test_a_principal_iam_does_not_let_be_the_node_is_refused_whatever_its_certificate_says(
    secure, nodes, streams, lab
) -> None:
    a, b = nodes
    stream = open_as(secure, streams, issue(secure[1].ca, node_arn(b), role_for(lab, a)))
    stream.send(sotw(CDS, b))
    assert stream.status() == grpc.StatusCode.PERMISSION_DENIED
    assert STREAM in stream.error.details()


def test_removing_the_iam_permission_closes_the_door_within_the_decision_lifetime(secure, nodes, streams, lab) -> None:
    a, _ = nodes
    role = role_for(lab, a)
    certificate = issue(secure[1].ca, node_arn(a), role)
    first = open_as(secure, streams, certificate)
    first.send(sotw(CDS, a))
    assert names(first.recv()) == ["cds_a_1", "cds_a_2"]
    revoke(lab, role)
    time.sleep(1.1)  # the fixture's decision lifetime is 1 s
    again = open_as(secure, streams, certificate)
    again.send(sotw(CDS, a))
    assert again.status() == grpc.StatusCode.PERMISSION_DENIED


def test_the_server_certificate_is_renewed_without_a_restart(lab) -> None:
    aws = lab_aws(lab)
    clock = [dt.datetime.now(dt.UTC) - dt.timedelta(hours=1, minutes=1)]  # issued an hour ago
    identity = node_identity(lab, keys=None)
    identity.keys = IssuedServerKeys(identity.ca, SERVER, dt.timedelta(hours=2), clock=lambda: clock[0])
    server = ThreadedAds(aws, identity=identity)
    try:
        before = served_certificate(server.port, identity)
        clock[0] = dt.datetime.now(dt.UTC)  # past half its lifetime
        after = served_certificate(server.port, identity)
    finally:
        server.stop()
    assert before.serial_number != after.serial_number
    assert after.not_valid_after_utc > before.not_valid_after_utc


def served_certificate(port: int, identity: NodeIdentity) -> x509.Certificate:
    """The certificate the gRPC port presents to a client holding a node certificate (h2 over TLS)."""
    certificate = issue(identity.ca, node_arn("mesh/m/virtualNode/a"), "arn:aws:iam::123456789012:role/r")
    with tempfile.TemporaryDirectory() as directory:
        chain, key = Path(directory, "c.pem"), Path(directory, "k.pem")
        chain.write_bytes(certificate.chain)
        key.write_bytes(certificate.key)
        context = ssl.create_default_context(cadata=identity.ca.certificate_pem.decode())
        context.load_cert_chain(chain, key)
        context.set_alpn_protocols(["h2"])
        raw = socket.create_connection(("127.0.0.1", port))
        with context.wrap_socket(raw, server_hostname=SERVER) as tls:
            der = tls.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der)


def test_without_required_node_identity_tls_serves_clients_without_certificates(lab) -> None:
    """`--no-require-node-identity`, a migration step: TLS from the node CA, but no client certificate asked."""
    aws = lab_aws(lab)
    identity = node_identity(lab, require_node_identity=False)
    server = ThreadedAds(aws, identity=identity)
    node = f"mesh/{aws.bucket}/virtualNode/a"
    Publisher(aws).publish(snapshot(node, "a"))
    stream = tls_stream(server.address, identity.ca, None)
    try:
        stream.send(sotw(CDS, node))
        assert names(stream.recv()) == ["cds_a_1", "cds_a_2"]
    finally:
        stream.close()
        server.stop()
