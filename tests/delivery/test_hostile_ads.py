"""A client that says anything: every stream ends with the status that fits, or gets its answer, and the
server's memory, store reads and streams stay bounded."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from envoy.service.discovery.v3.discovery_pb2 import DeltaDiscoveryResponse, DiscoveryResponse
from meshplane.delivery.server.limits import ServerLimits
from meshplane.delivery.server.requests import MAX_ABSENT_NAMES
from meshplane.identity.account import MeshAccount
from meshplane.snapshot.types import XdsType

from .harness import Aws, CountingAds, Publisher, ThreadedAds
from .rawclient import RawStream, delta, names, sotw
from .snapshots import snapshot

CDS = XdsType.CLUSTERS.type_url
EDS = XdsType.ENDPOINTS.type_url
RUNTIME = "type.googleapis.com/envoy.service.runtime.v3.Runtime"
HOME = MeshAccount("aws", "us-east-1", "123456789012")


@pytest.fixture
def node(publisher: Publisher, aws: Aws) -> str:
    path = f"mesh/{aws.bucket}/virtualNode/a"
    publisher.publish(snapshot(path, "a"))
    return path


@pytest.fixture
def opened() -> Iterator[Callable[..., RawStream]]:
    streams: list[RawStream] = []

    def open_stream(address: str, **kwargs: Any) -> RawStream:
        stream = RawStream(address, **kwargs)
        streams.append(stream)
        return stream

    yield open_stream
    for stream in streams:
        stream.close()


def test_a_100_kb_node_id_is_invalid_argument_not_unknown(ads: ThreadedAds, opened) -> None:
    stream = opened(ads.address)
    stream.send(sotw(CDS, "mesh/m/virtualNode/" + "n" * 100_000))
    assert stream.status() == grpc.StatusCode.INVALID_ARGUMENT
    assert "at most 1024" in stream.error.details()


@pytest.mark.parametrize("bind", ["not-an-ip", "1" * 5000])
def test_a_bind_address_that_is_not_an_ip_is_invalid_argument(ads: ThreadedAds, opened, node: str,
                                                              bind: str) -> None:
    stream = opened(ads.address)
    stream.send(sotw(CDS, node, bind=bind))
    assert stream.status() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_store_that_cannot_be_reached_is_unavailable(aws: Aws, opened) -> None:
    dead = Aws("http://127.0.0.1:9", aws.bucket, aws.queue_url)  # discard port: nothing listens
    server = ThreadedAds(dead, queue_url=None, preload=False)
    try:
        stream = opened(server.address)
        stream.send(sotw(CDS, f"mesh/{aws.bucket}/virtualNode/a"))
        assert stream.status(timeout=60) == grpc.StatusCode.UNAVAILABLE
        assert "snapshot store unavailable" in stream.error.details()
    finally:
        server.stop()


@pytest.mark.parametrize("foreign", [
    "arn:aws:appmesh:us-east-1:999999999999:mesh/{m}/virtualNode/a",
    "arn:aws:appmesh:eu-west-1:123456789012:mesh/{m}/virtualNode/a",
    "arn:aws-cn:appmesh:us-east-1:123456789012:mesh/{m}/virtualNode/a",
])
def test_a_node_arn_of_another_account_region_or_partition_is_refused(aws: Aws, node: str, opened,
                                                                     foreign: str) -> None:
    server = ThreadedAds(aws, home=HOME)
    try:
        stream = opened(server.address)
        stream.send(sotw(CDS, foreign.format(m=aws.bucket)))
        assert stream.status() == grpc.StatusCode.PERMISSION_DENIED
        own = opened(server.address)
        own.send(sotw(CDS, HOME.node_arn(_proxy(node))))
        assert names(own.recv()) == ["cds_a_1", "cds_a_2"], "the server's own ARN of the same node is served"
    finally:
        server.stop()


def _proxy(path: str) -> Any:
    from meshplane.model.ids import ProxyId

    return ProxyId.parse(path)


@pytest.mark.parametrize("is_delta", [False, True], ids=["sotw", "delta"])
def test_a_type_this_server_does_not_serve_is_answered_empty_once_and_the_stream_goes_on(
        ads: ThreadedAds, opened, node: str, is_delta: bool) -> None:
    stream = opened(ads.address, delta=is_delta)
    stream.send(delta(RUNTIME, node, subscribe=("rtds",)) if is_delta else sotw(RUNTIME, node, names=("rtds",)))
    answer = stream.recv()
    assert (answer.type_url, list(answer.resources)) == (RUNTIME, [])
    if is_delta:
        assert isinstance(answer, DeltaDiscoveryResponse) and list(answer.removed_resources) == ["rtds"]
        stream.send(delta(RUNTIME, nonce=answer.nonce))
    else:
        assert isinstance(answer, DiscoveryResponse)
        stream.send(sotw(RUNTIME, names=("rtds",), version=answer.version_info, nonce=answer.nonce))
    assert stream.nothing_within(0.5), "an ACK of the empty answer is not answered again"
    stream.send(delta(CDS) if is_delta else sotw(CDS))
    assert names(stream.recv()) == ["cds_a_1", "cds_a_2"]


@pytest.mark.parametrize("type_url", ["", "not a type url", "type.googleapis.com/" + "x" * 300])
@pytest.mark.parametrize("is_delta", [False, True], ids=["sotw", "delta"])
def test_an_empty_or_malformed_type_url_is_invalid_argument(ads: ThreadedAds, opened, node: str, type_url: str,
                                                            is_delta: bool) -> None:
    stream = opened(ads.address, delta=is_delta)
    stream.send(delta(type_url, node) if is_delta else sotw(type_url, node))
    assert stream.status() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("is_delta", [False, True], ids=["sotw", "delta"])
def test_a_subscription_to_100k_names_the_node_lacks_is_resource_exhausted(ads: ThreadedAds, opened, node: str,
                                                                           is_delta: bool) -> None:
    many = tuple(f"n{i}" for i in range(100_000))
    stream = opened(ads.address, delta=is_delta)
    stream.send(delta(EDS, node, subscribe=many) if is_delta else sotw(EDS, node, names=many))
    assert stream.status(timeout=30) == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert str(MAX_ABSENT_NAMES) in stream.error.details()


def test_a_delta_ack_for_a_nonce_never_sent_counts_as_nothing(ads: ThreadedAds, opened, node: str) -> None:
    stream = opened(ads.address, delta=True)
    stream.send(delta(CDS, node))
    stream.recv()
    for bogus in ("999", "-1", "abc", "9" * 40):
        stream.send(delta(CDS, nonce=bogus))
        stream.send(delta(CDS, nonce=bogus, error="made up"))
    stream.send(delta(EDS, subscribe=("cds_a_1",)))
    assert names(stream.recv()) == ["cds_a_1"], "the stream still answers"
    metrics = ads.metrics()
    assert (metrics.acks[XdsType.CLUSTERS], metrics.nacks[XdsType.CLUSTERS]) == (0, 0)


def test_a_request_over_the_size_limit_is_resource_exhausted_and_the_server_serves_on(
        aws: Aws, node: str, opened) -> None:
    server = ThreadedAds(aws, limits=ServerLimits(max_request_bytes=64 * 1024))
    try:
        stream = opened(server.address)
        stream.send(sotw(EDS, node, names=tuple(f"cds_a_1-{i:06d}" for i in range(10_000))))
        assert stream.status() == grpc.StatusCode.RESOURCE_EXHAUSTED
        fine = opened(server.address)
        fine.send(sotw(CDS, node))
        assert names(fine.recv()) == ["cds_a_1", "cds_a_2"]
    finally:
        server.stop()


def test_streams_beyond_the_bound_of_one_address_end_at_once_and_a_slot_frees_when_one_closes(
        aws: Aws, node: str, opened) -> None:
    server = ThreadedAds(aws, limits=ServerLimits(max_streams_per_peer=3))
    try:
        held = [opened(server.address) for _ in range(3)]
        for stream in held:
            stream.send(sotw(CDS, node))
            assert names(stream.recv()) == ["cds_a_1", "cds_a_2"]
        extra = opened(server.address)
        extra.send(sotw(CDS, node))
        assert extra.status() == grpc.StatusCode.RESOURCE_EXHAUSTED
        held[0].close()
        again = opened(server.address)
        again.send(sotw(CDS, node))
        assert names(again.recv(timeout=10)) == ["cds_a_1", "cds_a_2"]
    finally:
        server.stop()


def test_streams_for_an_unpublished_node_cost_one_store_read_until_it_is_published(
        counting_ads: Callable[..., CountingAds], publisher: Publisher, aws: Aws, opened) -> None:
    server = counting_ads(unknown_ttl_seconds=600, preload=False)
    missing = f"mesh/{aws.bucket}/virtualNode/later"
    for _ in range(20):
        stream = opened(server.address)
        stream.send(sotw(CDS, missing))
        assert stream.status() == grpc.StatusCode.NOT_FOUND
    assert server.s3_calls["GetObject"] == 1

    publisher.publish(snapshot(missing, "later"))  # its ConfigPublished event forgets the miss

    def served() -> bool:
        stream = opened(server.address)
        stream.send(sotw(CDS, missing))
        try:
            return names(stream.recv(timeout=2)) == ["cds_later_1", "cds_later_2"]
        except EOFError:
            return False

    from support import wait_until

    wait_until(served, 20, what="the published node to be served long before the miss expires")
