"""The ADS from outside: random and malformed SotW and Delta request sequences over raw gRPC.

Each example opens one stream and sends a few requests, drawn from what a broken or hostile
client might say: node ids that are huge, unicode, empty, of another account or naming
names over App Mesh's limits; served, unserved, empty and garbage type URLs; nonces never
sent; thousands of resource names; NACKs; bind addresses.  After each request the test
reads what comes back until the stream is quiet.  It asserts that a stream ends only with
a status that names the client's mistake (never UNKNOWN or INTERNAL, never a hang), that
a well-formed first request is answered, and, after all examples, that the server is up,
holds no stream, and serves a legitimate node.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from envoy.service.discovery.v3.discovery_pb2 import DeltaDiscoveryRequest, DiscoveryRequest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from meshplane.identity.account import MeshAccount
from meshplane.model.ids import ProxyId
from meshplane.snapshot.types import XdsType
from support import wait_until

from .harness import Aws, Publisher, ThreadedAds
from .rawclient import RawStream, names, sotw
from .snapshots import snapshot

HOME = MeshAccount("aws", "us-east-1", "123456789012")
SERVED = [kind.type_url for kind in XdsType]
UNSERVED = ["type.googleapis.com/envoy.service.runtime.v3.Runtime",
            "type.googleapis.com/envoy.config.route.v3.VirtualHost", "type.googleapis.com/google.protobuf.Empty"]
# What a stream may end with: each names a client mistake (or the client's own close).
ALLOWED = {grpc.StatusCode.OK, grpc.StatusCode.CANCELLED, grpc.StatusCode.INVALID_ARGUMENT,
           grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.RESOURCE_EXHAUSTED}
QUIET_S = 0.3
REAL_NAMES = ["cds_a_1", "cds_a_2", "lds_a_15000", "rds_a_1", "secret_a", "secret_b", "cds_b_1", "*"]
LAST = "<the last nonce received>"

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
node_ids = st.one_of(
    st.sampled_from(["legit", "own-arn"]).map(lambda tag: (tag, "")),
    st.sampled_from(["arn:aws:appmesh:us-east-1:999999999999:", "arn:aws:appmesh:eu-west-1:123456789012:",
                     "arn:aws-cn:appmesh:us-east-1:123456789012:"]).map(lambda prefix: ("foreign", prefix)),
    st.integers(min_value=1025, max_value=200_000).map(lambda n: ("text", "mesh/m/virtualNode/" + "n" * n)),
    st.integers(min_value=256, max_value=900).map(lambda n: ("text", f"mesh/m/virtualNode/{'é' * n}")),
    texts.map(lambda text: ("text", text)),
    st.just(("text", "")),
    texts.map(lambda name: ("text", f"mesh/m/virtualNode/{name}")),
)
type_urls = st.one_of(st.sampled_from(SERVED), st.sampled_from(SERVED), st.sampled_from(UNSERVED), st.just(""),
                      texts, texts.map(lambda t: f"type.googleapis.com/{t}"))
name_lists = st.one_of(
    st.lists(st.one_of(st.sampled_from(REAL_NAMES), texts), max_size=12),
    st.integers(min_value=0, max_value=3000).map(lambda n: [f"absent-{i}" for i in range(n)]),
)
nonces = st.one_of(st.sampled_from(["", LAST, LAST]), st.integers(min_value=-5, max_value=10**25).map(str), texts)
binds = st.one_of(st.none(), st.none(), st.sampled_from(["127.0.0.7", "::1"]), texts)


@dataclass
class Request:
    node: tuple[str, str] | None
    type_url: str
    names: list[str]
    unsubscribe: list[str]
    version: str
    nonce: str
    error: str | None
    bind: str | None
    initial: dict[str, str] = field(default_factory=dict)


requests = st.builds(
    Request, node=st.one_of(st.none(), node_ids), type_url=type_urls, names=name_lists,
    unsubscribe=st.lists(st.one_of(st.sampled_from(REAL_NAMES), texts), max_size=4), version=texts,
    nonce=nonces, error=st.one_of(st.none(), st.none(), texts), bind=binds,
    initial=st.dictionaries(st.one_of(st.sampled_from(REAL_NAMES), texts), texts, max_size=4),
)
sessions = st.tuples(node_ids, st.lists(requests, min_size=1, max_size=5))


@dataclass
class Fuzzed:
    ads: ThreadedAds
    node: str

    def node_id(self, choice: tuple[str, str]) -> str:
        tag, value = choice
        if tag == "legit":
            return self.node
        if tag == "own-arn":
            return HOME.node_arn(ProxyId.parse(self.node))
        if tag == "foreign":
            return value + self.node
        return value


def message(fuzzed: Fuzzed, request: Request, node: tuple[str, str] | None, last_nonce: str,
            delta: bool) -> DiscoveryRequest | DeltaDiscoveryRequest:
    nonce = last_nonce if request.nonce == LAST else request.nonce
    out: DiscoveryRequest | DeltaDiscoveryRequest
    if delta:
        out = DeltaDiscoveryRequest(type_url=request.type_url, resource_names_subscribe=request.names,
                                    resource_names_unsubscribe=request.unsubscribe, response_nonce=nonce,
                                    initial_resource_versions=request.initial)
    else:
        out = DiscoveryRequest(type_url=request.type_url, resource_names=request.names,
                               version_info=request.version, response_nonce=nonce)
    if node is not None:
        out.node.id = fuzzed.node_id(node)
        if request.bind is not None:
            out.node.metadata.update({"BIND_ADDRESS": request.bind})
    if request.error is not None:
        out.error_detail.message = request.error
        out.error_detail.code = 3
    return out


def refusal(node: tuple[str, str]) -> grpc.StatusCode | None:
    """The status a first request with this node id must end its stream with, if it must."""
    tag, value = node
    if tag == "foreign":
        return grpc.StatusCode.PERMISSION_DENIED
    if tag == "text" and (not value or len(value) > 1024):
        return grpc.StatusCode.INVALID_ARGUMENT
    return None


def answerable(node: tuple[str, str], first: Request, delta: bool) -> bool:
    """A first request the server must answer: its own node, a type it serves outside the make-before-break
    gate or one it does not serve at all, and a subscription of sane size."""
    if node[0] not in ("legit", "own-arn") or first.bind not in (None, "", "127.0.0.7", "::1"):
        return False
    if first.type_url in UNSERVED:
        return not delta or len(first.names) <= 1000
    if first.type_url not in (XdsType.CLUSTERS.type_url, XdsType.ENDPOINTS.type_url, XdsType.SECRETS.type_url):
        return False
    if delta:
        return len(first.names) + len(first.initial) <= 1000
    return first.type_url == XdsType.CLUSTERS.type_url or 0 < len(first.names) <= 1000


@pytest.fixture
def fuzzed(aws: Aws, publisher: Publisher) -> Iterator[Fuzzed]:
    node = f"mesh/{aws.bucket}/virtualNode/a"
    publisher.publish(snapshot(node, "a"))
    server = ThreadedAds(aws, home=HOME)
    try:
        yield Fuzzed(server, node)
    finally:
        server.stop()


@pytest.mark.parametrize("delta", [False, True], ids=["sotw", "delta"])
def test_random_request_sequences_end_properly_and_the_server_serves_on(fuzzed: Fuzzed, delta: bool) -> None:
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                      HealthCheck.function_scoped_fixture])
    @given(session=sessions)
    def example(session: tuple[tuple[str, str], list[Request]]) -> None:
        first_node, sent = session
        stream = RawStream(fuzzed.ads.address, delta=delta)
        try:
            last_nonce, answered, status = "", 0, None
            refused = refusal(first_node)
            for index, request in enumerate(sent):
                node = first_node if index == 0 else request.node
                stream.send(message(fuzzed, request, node, last_nonce, delta))
                if refused is not None:
                    assert stream.status(timeout=10) == refused, stream.error and stream.error.details()
                    return
                received, status = stream.drain(QUIET_S)
                answered += len(received)
                if received:
                    last_nonce = received[-1].nonce
                if status is not None:
                    break
                if index == 0 and answerable(first_node, sent[0], delta):
                    assert received, "a well-formed first request for the node's own resources is answered"
            assert status is None or status in ALLOWED, (status, stream.error and stream.error.details())
        finally:
            stream.close()

    example()

    assert_serves_and_holds_no_stream(fuzzed)


def assert_serves_and_holds_no_stream(fuzzed: Fuzzed) -> None:
    stream = RawStream(fuzzed.ads.address)
    try:
        stream.send(sotw(XdsType.CLUSTERS.type_url, fuzzed.node))
        assert names(stream.recv(timeout=10)) == ["cds_a_1", "cds_a_2"]
    finally:
        stream.close()
    wait_until(lambda: fuzzed.ads.metrics().streams_open == 0, 10, what="every fuzzed stream to be released")


def test_a_flood_of_streams_from_one_client_is_bounded_and_the_server_serves_on(aws: Aws, publisher: Publisher) -> None:
    from meshplane.delivery.server.limits import ServerLimits

    node = f"mesh/{aws.bucket}/virtualNode/a"
    publisher.publish(snapshot(node, "a"))
    server = ThreadedAds(aws, home=HOME, limits=ServerLimits(max_streams_per_peer=20))
    streams: list[RawStream] = []
    try:
        for _ in range(60):
            stream = RawStream(server.address)
            stream.send(sotw(XdsType.CLUSTERS.type_url, node))
            streams.append(stream)
        outcomes: list[Any] = []
        for stream in streams:
            received, status = stream.drain(QUIET_S)
            outcomes.append("served" if received else status)
        assert outcomes.count("served") == 20
        assert outcomes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) == 40
        for stream in streams:
            stream.close()
        assert_serves_and_holds_no_stream(Fuzzed(server, node))
    finally:
        for stream in streams:
            stream.close()
        server.stop()
