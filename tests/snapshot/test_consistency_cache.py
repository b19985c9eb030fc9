"""The consistency check's facts per resource bytes: a resource seen before is not parsed again, and a bad
one seen again is rejected again with the same problems."""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from meshplane.snapshot.consistency import FactsCache, check
from meshplane.snapshot.snapshot import PackedResources, Snapshot
from meshplane.snapshot.types import XdsType


def _snapshot(address: str) -> Snapshot:
    cluster = cluster_pb2.Cluster(name="back", type=cluster_pb2.Cluster.EDS)
    cluster.eds_cluster_config.service_name = "back"
    assignment = endpoint_pb2.ClusterLoadAssignment(cluster_name="back")
    socket = assignment.endpoints.add().lb_endpoints.add().endpoint.address.socket_address
    socket.address, socket.port_value = address, 8080
    return Snapshot.build("m/virtualNode/front", {XdsType.CLUSTERS: {"back": cluster},
                                                  XdsType.ENDPOINTS: {"back": assignment}})


def _stored(snapshot: Snapshot) -> Snapshot:
    """The snapshot as read back from the bucket: packed bytes only, no message parsed yet."""
    return Snapshot.loads(snapshot.to_bytes())


def test_a_bad_resource_seen_again_is_rejected_again_without_being_parsed() -> None:
    cache = FactsCache()
    bad = _snapshot("not-an-ip")
    problems = check(bad, cache)
    assert problems and all("not-an-ip" in p for p in problems)

    again = _stored(bad)
    assert check(again, cache) == problems
    for kind in (XdsType.CLUSTERS, XdsType.ENDPOINTS):
        resources = again.of(kind)
        assert isinstance(resources, PackedResources) and resources._typed == {}  # read from the facts alone


def test_new_bytes_under_a_known_name_are_checked_afresh() -> None:
    cache = FactsCache()
    assert check(_snapshot("10.0.0.1"), cache) == []
    fixed_then_broken = _stored(_snapshot("10.0.0.256"))
    assert check(fixed_then_broken, cache) == check(_snapshot("10.0.0.256"), FactsCache()) != []


def test_the_cache_is_cleared_when_it_holds_more_bytes_than_its_limit() -> None:
    cache = FactsCache(limit=1)
    assert check(_snapshot("not-an-ip"), cache) != []
    assert len(cache) <= 1
