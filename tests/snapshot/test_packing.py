"""`snapshot.packing` writes exactly the bytes protobuf's own `Any` packing writes, and reads them back."""

from __future__ import annotations

import pytest
from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.config.endpoint.v3.endpoint_pb2 import ClusterLoadAssignment
from google.protobuf.message import Message
from meshplane.snapshot.packing import value_of, wrap
from meshplane.snapshot.snapshot import Snapshot, pack
from meshplane.snapshot.types import XdsType

MESSAGES: list[tuple[XdsType, Message]] = [
    (XdsType.CLUSTERS, Cluster()),  # empty: proto3 leaves `value` out
    (XdsType.CLUSTERS, Cluster(name="c")),
    (XdsType.CLUSTERS, Cluster(name="x" * 300)),  # a two-byte length
    (XdsType.ENDPOINTS, ClusterLoadAssignment(cluster_name="y" * 20_000)),  # a three-byte length
]


@pytest.mark.parametrize(("kind", "message"), MESSAGES)
def test_wrap_is_protobufs_deterministic_any(kind: XdsType, message: Message) -> None:
    value = message.SerializeToString(deterministic=True)
    assert wrap(kind, value) == pack(message)
    assert bytes(value_of(kind, wrap(kind, value))) == value


def test_a_built_snapshot_versions_and_packs_as_the_protobuf_runtime_does() -> None:
    clusters = {m.name: m for k, m in MESSAGES if isinstance(m, Cluster)}
    snapshot = Snapshot.build("node", {XdsType.CLUSTERS: clusters})
    assert dict(snapshot.packed(XdsType.CLUSTERS)) == {n: pack(m) for n, m in clusters.items()}
    loaded = Snapshot.loads(snapshot.to_bytes())
    assert loaded.versions == snapshot.versions
    carried = Snapshot.build("node", loaded.resources)  # stored bytes reused, not repacked
    assert carried.versions == snapshot.versions
