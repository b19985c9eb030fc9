"""ADS over TLS with client certificates: a certificate only opens streams for the proxy it names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from meshplane.delivery.server.ads import TlsFiles
from meshplane.snapshot.types import XdsType
from support import TestCA

from .harness import Aws, Publisher, ThreadedAds
from .rawclient import RawStream, names, sotw
from .snapshots import snapshot

CDS = XdsType.CLUSTERS.type_url


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
