"""A stream serves exactly one proxy: its own resources, never another's, and clear errors otherwise."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from meshplane.snapshot.types import XdsType

from .harness import Aws, Publisher, ThreadedAds
from .rawclient import RawStream, delta, names, sotw
from .snapshots import snapshot

SDS = XdsType.SECRETS.type_url
RDS = XdsType.ROUTES.type_url
CDS = XdsType.CLUSTERS.type_url
LDS = XdsType.LISTENERS.type_url


@pytest.fixture
def mesh(publisher: Publisher, aws: Aws) -> tuple[str, str]:
    a, b = f"mesh/{aws.bucket}/virtualNode/a", f"mesh/{aws.bucket}/virtualNode/b"
    publisher.publish(snapshot(a, "a"))
    publisher.publish(snapshot(b, "b"))
    return a, b


@pytest.fixture
def open_stream(ads: ThreadedAds) -> Iterator[type[RawStream]]:
    streams: list[RawStream] = []

    def opener(*args: object, **kwargs: object) -> RawStream:
        stream = RawStream(ads.address, *args, **kwargs)  # type: ignore[arg-type]
        streams.append(stream)
        return stream

    yield opener  # type: ignore[misc]
    for stream in streams:
        stream.close()


def test_a_proxy_subscribing_to_another_proxys_secret_and_routes_gets_none_of_them(mesh, open_stream) -> None:
    _, b = mesh
    stream = open_stream()
    stream.send(sotw(SDS, b, names=("secret_a", "secret_b")))
    secrets = stream.recv()
    assert names(secrets) == ["secret_b"]
    stream.send(sotw(SDS, names=("secret_a", "secret_b"), version=secrets.version_info, nonce=secrets.nonce))
    stream.send(sotw(RDS, names=("rds_a_1", "rds_a_2")))
    assert names(stream.recv()) == [], "foreign names are answered with nothing"
    stream.send(sotw(CDS))
    assert names(stream.recv()) == ["cds_b_1", "cds_b_2"]


def test_delta_subscription_to_another_proxys_secret_is_answered_as_removed(mesh, open_stream) -> None:
    _, b = mesh
    stream = open_stream(delta=True)
    stream.send(delta(SDS, b, subscribe=("secret_a",)))
    response = stream.recv()
    assert list(response.resources) == []
    assert list(response.removed_resources) == ["secret_a"]


def test_switching_node_id_mid_stream_is_permission_denied(mesh, open_stream) -> None:
    a, b = mesh
    stream = open_stream()
    stream.send(sotw(CDS, b))
    stream.recv()
    stream.send(sotw(SDS, a, names=("secret_a",)))
    assert stream.status() == grpc.StatusCode.PERMISSION_DENIED
    assert a in stream.error.details()


def test_a_node_with_nothing_published_is_not_found(mesh, open_stream, aws: Aws) -> None:
    stream = open_stream()
    stream.send(sotw(CDS, f"mesh/{aws.bucket}/virtualNode/never-published"))
    assert stream.status() == grpc.StatusCode.NOT_FOUND
    assert "never-published" in stream.error.details()


@pytest.mark.parametrize("node_id", ["", "web-1", "mesh/m/virtualService/s", "arn:aws:s3:::bucket"])
def test_a_missing_or_unparseable_node_id_is_invalid_argument(open_stream, node_id: str) -> None:
    stream = open_stream()
    stream.send(sotw(CDS, node_id))
    assert stream.status() == grpc.StatusCode.INVALID_ARGUMENT


def test_the_arn_form_of_the_node_id_reaches_the_same_proxy(mesh, open_stream, aws: Aws) -> None:
    stream = open_stream()
    stream.send(sotw(CDS, f"arn:aws:appmesh:us-east-1:123456789012:mesh/{aws.bucket}/virtualNode/a"))
    assert names(stream.recv()) == ["cds_a_1", "cds_a_2"]


def test_bind_address_metadata_rebinds_listeners(mesh, open_stream) -> None:
    a, _ = mesh
    stream = open_stream()
    stream.send(sotw(LDS, a, bind="127.9.9.9"))
    from envoy.config.listener.v3.listener_pb2 import Listener

    addresses = set()
    for packed in stream.recv().resources:
        listener = Listener()
        packed.Unpack(listener)
        addresses.add(listener.address.socket_address.address)
    assert addresses == {"127.9.9.9"}
