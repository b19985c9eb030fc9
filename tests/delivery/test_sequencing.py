"""Make before break, on the protocol objects: routes wait for the clusters they name, and a
cluster a new version drops leaves only after the routes that stopped using it are in."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pytest
from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.config.route.v3.route_pb2 import RouteConfiguration
from envoy.service.discovery.v3.discovery_pb2 import DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryResponse
from meshplane.delivery.metrics import Metrics
from meshplane.delivery.prepared import PreparedSnapshot
from meshplane.delivery.server.delta import DeltaProtocol
from meshplane.delivery.server.sequencing import DRAINING, Gate
from meshplane.delivery.server.sotw import SotwProtocol
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.types import XdsType

from .rawclient import delta, names, sotw
from .snapshots import assignment, listener

NODE = "mesh/m/virtualNode/front"
CDS, EDS, LDS, RDS = (k.type_url for k in (XdsType.CLUSTERS, XdsType.ENDPOINTS, XdsType.LISTENERS, XdsType.ROUTES))


def version_routing_to(*clusters: str, route_to: str) -> PreparedSnapshot:
    """EDS clusters with one endpoint each, one listener, and a route config sending all to `route_to`."""
    route = RouteConfiguration(name="rds_egress_http_8080")
    entry = route.virtual_hosts.add(name="back", domains=["*"]).routes.add()
    entry.match.prefix, entry.route.cluster = "/", route_to
    return PreparedSnapshot.of(Snapshot.build(NODE, {
        XdsType.CLUSTERS: {c: Cluster(name=c, type=Cluster.EDS) for c in clusters},
        XdsType.ENDPOINTS: {c: assignment(c, "10.0.0.1") for c in clusters},
        XdsType.LISTENERS: {"lds_egress": listener("lds_egress", port=15001)},
        XdsType.ROUTES: {route.name: route},
        XdsType.SECRETS: {},
    }))  # fmt: skip


OLD = version_routing_to("keep", "v1", route_to="v1")
NEW = version_routing_to("keep", "v2", route_to="v2")
NEWER = version_routing_to("keep", "v3", route_to="v3")


Response = TypeVar("Response", DiscoveryResponse, DeltaDiscoveryResponse)


def exchange(responses: list[Response], reply: Callable[[Response], list[Response]]) -> list[Response]:
    """Envoy's side: take each response in order, answer it, and take what the answers release;
    returns everything received."""
    received: list[Response] = []
    queue = list(responses)
    while queue:
        response = queue.pop(0)
        received.append(response)
        queue += reply(response)
    return received


class SotwEnvoy:
    """Plays Envoy's side of a SotW stream: subscribes like Envoy does and ACKs what it is told to."""

    def __init__(self, protocol: SotwProtocol) -> None:
        self.protocol = protocol

    def connect(self, view: PreparedSnapshot, clusters_version: str = "") -> None:
        loads = tuple(view.types[XdsType.ENDPOINTS].packed)
        for request in (sotw(CDS, NODE, version=clusters_version), sotw(EDS, names=loads), sotw(LDS),
                        sotw(RDS, names=("rds_egress_http_8080",))):  # fmt: skip
            for response in self.protocol.on_request(request, view):
                self.ack_all([DiscoveryResponse.FromString(response)], view)

    def ack(self, response: DiscoveryResponse, view: PreparedSnapshot) -> list[DiscoveryResponse]:
        held = names(response) if response.type_url == CDS else ()
        subscribed = {EDS: tuple(held) or tuple(view.types[XdsType.ENDPOINTS].packed), RDS: ("rds_egress_http_8080",)}
        request = sotw(response.type_url, names=subscribed.get(response.type_url, ()),
                       version=response.version_info, nonce=response.nonce)  # fmt: skip
        return [DiscoveryResponse.FromString(b) for b in self.protocol.on_request(request, view)]

    def ack_all(self, responses: list[DiscoveryResponse], view: PreparedSnapshot) -> list[DiscoveryResponse]:
        return exchange(responses, lambda response: self.ack(response, view))


def kinds(responses: list[DiscoveryResponse]) -> list[str]:
    return [XdsType.from_type_url(r.type_url).value for r in responses]


class TestSotw:
    def test_a_route_change_sends_clusters_first_and_routes_only_after_clusters_and_endpoints_are_acked(self) -> None:
        envoy = SotwEnvoy(SotwProtocol(NODE, Metrics()))
        envoy.connect(OLD)
        pushed = [DiscoveryResponse.FromString(b) for b in envoy.protocol.on_change(list(XdsType), NEW)]
        assert kinds(pushed) == ["clusters", "endpoints"]
        received = envoy.ack_all(pushed, NEW)
        order = kinds(received)
        first_route = order.index("routes")  # the listener did not change: no LDS
        assert set(order[:first_route]) == {"clusters", "endpoints"}, order

    def test_the_dropped_cluster_stays_until_the_routes_moving_off_it_are_acked_then_leaves(self) -> None:
        envoy = SotwEnvoy(SotwProtocol(NODE, Metrics()))
        envoy.connect(OLD)
        pushed = [DiscoveryResponse.FromString(b) for b in envoy.protocol.on_change(list(XdsType), NEW)]
        assert names(pushed[0]) == ["keep", "v1", "v2"] and pushed[0].version_info.endswith(DRAINING)
        received = envoy.ack_all(pushed, NEW)
        assert kinds(received)[-1] == "clusters", "the last word is the CDS without the stale cluster"
        assert names(received[-1]) == ["keep", "v2"]
        assert received[-1].version_info == NEW.types[XdsType.CLUSTERS].version
        assert kinds(received).index("routes") < len(received) - 1

    def test_a_cluster_of_a_nacked_version_is_not_carried_as_held(self) -> None:
        envoy = SotwEnvoy(SotwProtocol(NODE, Metrics()))
        envoy.connect(OLD)
        bad = version_routing_to("keep", "v1", "rejected", route_to="v1")
        rejected = DiscoveryResponse.FromString(envoy.protocol.on_change([XdsType.CLUSTERS], bad)[0])
        nack = sotw(CDS, version=OLD.types[XdsType.CLUSTERS].version, nonce=rejected.nonce, error="rejected")
        envoy.protocol.on_request(nack, bad)
        pushed = DiscoveryResponse.FromString(envoy.protocol.on_change(list(XdsType), NEW)[0])
        assert names(pushed) == ["keep", "v1", "v2"], "what Envoy holds is the last version it accepted"

    def test_a_second_change_while_draining_keeps_only_the_clusters_the_latest_change_dropped(self) -> None:
        envoy = SotwEnvoy(SotwProtocol(NODE, Metrics()))
        envoy.connect(OLD)
        first = DiscoveryResponse.FromString(envoy.protocol.on_change(list(XdsType), NEW)[0])
        envoy.ack(first, NEW)
        second = DiscoveryResponse.FromString(envoy.protocol.on_change(list(XdsType), NEWER)[0])
        assert names(second) == ["keep", "v2", "v3"], "v1 (two versions back) is not kept forever"

    def test_a_reconnecting_envoy_that_holds_the_previous_clusters_keeps_them_until_settled(self) -> None:
        protocol = SotwProtocol(NODE, Metrics())
        request = sotw(CDS, NODE, version=OLD.types[XdsType.CLUSTERS].version + DRAINING)
        assert protocol.held_clusters_version(request, NEW) == OLD.types[XdsType.CLUSTERS].version
        protocol.hold(OLD)
        first = DiscoveryResponse.FromString(protocol.on_request(request, NEW)[0])
        assert names(first) == ["keep", "v1", "v2"]
        envoy = SotwEnvoy(protocol)
        received = envoy.ack_all([first], NEW)
        for late in (sotw(EDS, names=("keep", "v1", "v2")), sotw(LDS), sotw(RDS, names=("rds_egress_http_8080",))):
            received += envoy.ack_all([DiscoveryResponse.FromString(b) for b in protocol.on_request(late, NEW)], NEW)
        assert kinds(received)[-1] == "clusters" and names(received[-1]) == ["keep", "v2"]

    def test_an_envoy_already_on_the_current_clusters_needs_no_look_back(self) -> None:
        protocol = SotwProtocol(NODE, Metrics())
        assert protocol.held_clusters_version(sotw(CDS, NODE, version=NEW.types[XdsType.CLUSTERS].version), NEW) is None
        assert protocol.held_clusters_version(sotw(CDS, NODE), NEW) is None, "a first connection holds nothing"


class DeltaEnvoy:
    """Plays Envoy's side of a Delta stream: wildcard CDS/LDS, EDS/RDS by name, ACKs everything."""

    def __init__(self) -> None:
        self.protocol = DeltaProtocol(NODE, Metrics())

    def connect(self, view: PreparedSnapshot, initial: dict[str, str] | None = None) -> list[DeltaDiscoveryResponse]:
        received: list[DeltaDiscoveryResponse] = []
        loads = tuple(view.types[XdsType.ENDPOINTS].packed)
        for request in (delta(CDS, NODE, initial=initial), delta(EDS, subscribe=loads), delta(LDS),
                        delta(RDS, subscribe=("rds_egress_http_8080",))):  # fmt: skip
            received += self.ack_all(self._send(request, view), view)
        return received

    def _send(self, request: DeltaDiscoveryRequest, view: PreparedSnapshot) -> list[DeltaDiscoveryResponse]:
        return [DeltaDiscoveryResponse.FromString(b) for b in self.protocol.on_request(request, view)]

    def ack_all(self, responses: list[DeltaDiscoveryResponse], view: PreparedSnapshot) -> list[DeltaDiscoveryResponse]:
        return exchange(responses, lambda response: self.ack(response, view))

    def ack(self, response: DeltaDiscoveryResponse, view: PreparedSnapshot) -> list[DeltaDiscoveryResponse]:
        out = []
        if response.type_url == CDS and response.resources:  # new EDS clusters: Envoy asks for their endpoints
            out += self._send(delta(EDS, subscribe=tuple(names(response))), view)
        return out + self._send(delta(response.type_url, nonce=response.nonce), view)


class TestDelta:
    def test_dropped_clusters_and_endpoints_are_removed_only_after_the_routes_are_acked(self) -> None:
        envoy = DeltaEnvoy()
        envoy.connect(OLD)
        pushed = [DeltaDiscoveryResponse.FromString(b) for b in envoy.protocol.on_change(list(XdsType), NEW)]
        assert kinds(pushed) == ["clusters"]  # type: ignore[arg-type]
        assert all(list(r.removed_resources) == [] for r in pushed), "nothing removed before the routes move"
        received = envoy.ack_all(pushed, NEW)
        order = kinds(received)  # type: ignore[arg-type]
        assert order.index("routes") < len(order) - 2
        removals = {r.type_url: list(r.removed_resources) for r in received[order.index("routes") + 1:]}
        assert removals == {CDS: ["v1"], EDS: ["v1"]}

    def test_a_reconnecting_envoy_keeps_the_clusters_it_lists_until_the_routes_are_in(self) -> None:
        envoy = DeltaEnvoy()
        held = {"keep": "x", "v1": "y"}
        received = envoy.connect(NEW, initial=held)
        first = received[0]
        assert first.type_url == CDS and list(first.removed_resources) == []
        assert list(received[-1].removed_resources) == ["v1"] and received[-1].type_url == CDS


def test_routes_held_for_an_envoy_that_never_acks_its_endpoints_go_out_when_the_gate_gives_up() -> None:
    now = [0.0]
    protocol = SotwProtocol(NODE, Metrics(), Gate(patience=5.0, clock=lambda: now[0]))
    envoy = SotwEnvoy(protocol)
    envoy.connect(OLD)
    pushed = [DiscoveryResponse.FromString(b) for b in protocol.on_change(list(XdsType), NEW)]
    assert kinds(pushed) == ["clusters", "endpoints"]
    envoy.ack(pushed[0], NEW)  # the CDS ACK comes; the EDS one never does
    assert protocol.wake_in() == 5.0
    now[0] = 4.9
    assert protocol.on_wake(NEW) == [] and protocol.wake_in() == pytest.approx(0.1)
    now[0] = 5.0
    assert kinds([DiscoveryResponse.FromString(b) for b in protocol.on_wake(NEW)]) == ["routes"]
    assert protocol.wake_in() is None


def test_the_stream_wakes_its_protocol_when_held_back_responses_are_due_even_if_envoy_stays_silent() -> None:
    import asyncio

    from meshplane.delivery.server.stream import Stream

    class OneView:
        async def watch(self, *_args: object) -> PreparedSnapshot:
            return NEW

        def view(self, *_args: object) -> PreparedSnapshot:
            return NEW

        def unwatch(self, *_args: object) -> None:
            pass

    class Waiting:
        """Answers the first request with nothing and asks to be woken 50 ms later, once."""

        woken = 0

        def __init__(self, *_args: object) -> None:
            pass

        def held_clusters_version(self, *_args: object) -> None:
            return None

        def on_request(self, *_args: object) -> list[bytes]:
            return []

        def wake_in(self) -> float | None:
            return 0.05 if not self.woken else None

        def on_wake(self, _view: PreparedSnapshot) -> list[bytes]:
            self.woken += 1
            return [b"released"]

    async def scenario() -> list[bytes]:
        silent = asyncio.Event()

        async def requests():  # one request, then Envoy says nothing more
            yield sotw(CDS, NODE)
            await silent.wait()

        stream = Stream(OneView(), Metrics())  # type: ignore[arg-type]
        received = []
        async for out in stream.run(requests(), Waiting, lambda _identity: None):  # type: ignore[arg-type]
            received.append(out)
            stream.close()
        return received

    assert asyncio.run(asyncio.wait_for(scenario(), 5)) == [b"released"]
