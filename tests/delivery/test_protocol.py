"""SotW and Delta protocol rules, on the protocol objects directly (no network)."""

from __future__ import annotations

from envoy.service.discovery.v3.discovery_pb2 import DeltaDiscoveryResponse, DiscoveryResponse
from meshplane.delivery.metrics import Metrics
from meshplane.delivery.prepared import PreparedSnapshot
from meshplane.delivery.server.delta import DeltaProtocol
from meshplane.delivery.server.sotw import SotwProtocol
from meshplane.snapshot.types import XdsType

from .rawclient import delta, names, sotw
from .snapshots import snapshot

NODE = "mesh/m/virtualNode/a"
CDS, EDS, LDS, RDS, SDS = (k.type_url for k in (XdsType.CLUSTERS, XdsType.ENDPOINTS, XdsType.LISTENERS,
                                                XdsType.ROUTES, XdsType.SECRETS))  # fmt: skip


def view(**kwargs: object) -> PreparedSnapshot:
    return PreparedSnapshot.of(snapshot(NODE, "a", **kwargs))  # type: ignore[arg-type]


def one(out: list[bytes]) -> DiscoveryResponse:
    assert len(out) == 1, f"expected one response, got {len(out)}"
    return DiscoveryResponse.FromString(out[0])


def one_delta(out: list[bytes]) -> DeltaDiscoveryResponse:
    assert len(out) == 1, f"expected one response, got {len(out)}"
    return DeltaDiscoveryResponse.FromString(out[0])


class TestSotw:
    def test_cds_with_no_names_is_a_wildcard_and_carries_the_type_version(self) -> None:
        v = view()
        response = one(SotwProtocol(NODE, Metrics()).on_request(sotw(CDS, NODE), v))
        assert names(response) == ["cds_a_1", "cds_a_2"]
        assert response.version_info == v.types[XdsType.CLUSTERS].version
        assert response.nonce

    def test_eds_sends_only_the_subscribed_names(self) -> None:
        response = one(SotwProtocol(NODE, Metrics()).on_request(sotw(EDS, NODE, names=("cds_a_2",)), view()))
        assert names(response) == ["cds_a_2"]

    def test_an_ack_of_the_current_version_gets_no_response(self) -> None:
        v, metrics = view(), Metrics()
        protocol = SotwProtocol(NODE, metrics)
        first = one(protocol.on_request(sotw(CDS, NODE), v))
        assert protocol.on_request(sotw(CDS, version=first.version_info, nonce=first.nonce), v) == []
        assert metrics.acks[XdsType.CLUSTERS] == 1
        assert protocol.acked_version(XdsType.CLUSTERS) == first.version_info

    def test_a_request_with_a_stale_nonce_is_ignored(self) -> None:
        protocol, v = SotwProtocol(NODE, Metrics()), view()
        first = one(protocol.on_request(sotw(EDS, NODE, names=("cds_a_1",)), v))
        second = one(protocol.on_request(sotw(EDS, names=("cds_a_1", "cds_a_2"), nonce=first.nonce), v))
        assert protocol.on_request(sotw(EDS, names=("cds_a_1",), nonce=first.nonce), v) == []
        assert names(second) == ["cds_a_1", "cds_a_2"]

    def test_a_nack_is_counted_and_the_rejected_version_is_not_resent(self) -> None:
        metrics = Metrics()
        protocol, old, new = SotwProtocol(NODE, metrics), view(), view(route_version=2)
        first = one(protocol.on_request(sotw(RDS, NODE, names=("rds_a_1",)), old))
        protocol.on_request(sotw(RDS, names=("rds_a_1",), version=first.version_info, nonce=first.nonce), old)
        pushed = one(protocol.on_change([XdsType.ROUTES], new))
        nack = sotw(RDS, names=("rds_a_1",), version=first.version_info, nonce=pushed.nonce, error="bad route")
        assert protocol.on_request(nack, new) == []
        assert metrics.nacks[XdsType.ROUTES] == 1
        assert protocol.acked_version(XdsType.ROUTES) == first.version_info, "last good version kept"

    def test_a_change_pushes_only_changed_types_that_the_stream_subscribed_to(self) -> None:
        protocol, old, new = SotwProtocol(NODE, Metrics()), view(), view(endpoints=("10.0.0.9",))
        for url in (CDS, LDS):
            sent = one(protocol.on_request(sotw(url, NODE), old))
            protocol.on_request(sotw(url, version=sent.version_info, nonce=sent.nonce), old)
        assert protocol.on_change([XdsType.ENDPOINTS], new) == [], "EDS was never requested on this stream"
        one(protocol.on_request(sotw(EDS, names=("cds_a_1",)), old))
        assert DiscoveryResponse.FromString(protocol.on_change([XdsType.ENDPOINTS], new)[0]).type_url == EDS

    def test_a_change_of_several_types_is_pushed_in_warming_order_routes_after_clusters_are_acked(self) -> None:
        protocol = SotwProtocol(NODE, Metrics())
        old = view()
        for request in (sotw(RDS, NODE, names=("rds_a_1",)), sotw(LDS), sotw(EDS, names=("cds_a_1",)), sotw(CDS)):
            protocol.on_request(request, old)
        every_type_changed = PreparedSnapshot.of(snapshot(NODE, "b"))
        pushed = [DiscoveryResponse.FromString(b) for b in protocol.on_change(list(XdsType), every_type_changed)]
        assert [r.type_url for r in pushed] == [CDS, EDS], "listeners and routes wait for clusters to warm"
        cds, eds = pushed
        assert protocol.on_request(sotw(CDS, version=cds.version_info, nonce=cds.nonce), every_type_changed) == []
        released = protocol.on_request(sotw(EDS, names=("cds_a_1",), version=eds.version_info, nonce=eds.nonce),
                                       every_type_changed)  # fmt: skip
        assert [DiscoveryResponse.FromString(b).type_url for b in released] == [LDS, RDS]

    def test_unsubscribing_from_every_name_sends_nothing(self) -> None:
        protocol, v = SotwProtocol(NODE, Metrics()), view()
        first = one(protocol.on_request(sotw(EDS, NODE, names=("cds_a_1",)), v))
        assert protocol.on_request(sotw(EDS, version=first.version_info, nonce=first.nonce), v) == []


class TestDelta:
    def test_a_wildcard_subscription_receives_every_resource_with_its_own_version(self) -> None:
        response = one_delta(DeltaProtocol(NODE, Metrics()).on_request(delta(CDS, NODE), view()))
        assert names(response) == ["cds_a_1", "cds_a_2"]
        assert all(r.version for r in response.resources)
        assert response.system_version_info == view().types[XdsType.CLUSTERS].version

    def test_subscribe_and_unsubscribe_by_name(self) -> None:
        protocol, v = DeltaProtocol(NODE, Metrics()), view()
        first = one_delta(protocol.on_request(delta(EDS, NODE, subscribe=("cds_a_1",)), v))
        assert names(first) == ["cds_a_1"]
        added = one_delta(protocol.on_request(delta(EDS, subscribe=("cds_a_2",), nonce=first.nonce), v))
        assert names(added) == ["cds_a_2"], "only the newly subscribed resource is sent"
        assert protocol.on_request(delta(EDS, unsubscribe=("cds_a_1",), nonce=added.nonce), v) == []
        changed = one_delta(protocol.on_change([XdsType.ENDPOINTS], view(endpoints=("10.0.0.9",))))
        assert names(changed) == ["cds_a_2"], "the unsubscribed name is no longer pushed"

    def test_a_change_sends_only_resources_whose_version_changed(self) -> None:
        from envoy.config.cluster.v3.cluster_pb2 import Cluster
        from meshplane.snapshot.snapshot import Snapshot

        protocol, v = DeltaProtocol(NODE, Metrics()), view()
        one_delta(protocol.on_request(delta(CDS, NODE), v))
        base = snapshot(NODE, "a")
        changed = {**base.of(XdsType.CLUSTERS), "cds_a_1": Cluster(name="cds_a_1", type=Cluster.STRICT_DNS)}
        new = Snapshot.build(NODE, {**{k: base.of(k) for k in XdsType}, XdsType.CLUSTERS: changed})
        response = one_delta(protocol.on_change([XdsType.CLUSTERS], PreparedSnapshot.of(new)))
        assert names(response) == ["cds_a_1"]
        assert list(response.removed_resources) == []

    def test_initial_resource_versions_spare_a_reconnecting_client_what_it_has(self) -> None:
        v = view()
        held = {r.name: r.version for r in v.types[XdsType.CLUSTERS].resources.values()}
        response = one_delta(DeltaProtocol(NODE, Metrics()).on_request(delta(CDS, NODE, initial=held), v))
        assert list(response.resources) == [] and list(response.removed_resources) == []

    def test_a_nack_is_counted_and_nothing_is_resent(self) -> None:
        metrics = Metrics()
        protocol, v = DeltaProtocol(NODE, metrics), view()
        first = one_delta(protocol.on_request(delta(CDS, NODE), v))
        assert protocol.on_request(delta(CDS, nonce=first.nonce, error="rejected"), v) == []
        assert metrics.nacks[XdsType.CLUSTERS] == 1
