"""`snapshot.packing` writes exactly the bytes protobuf's own `Any` packing writes, and reads them back."""

from __future__ import annotations

import hashlib

import pytest
from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.config.endpoint.v3.endpoint_pb2 import ClusterLoadAssignment
from google.protobuf.message import Message
from meshplane.snapshot.packing import value_of, wrap
from meshplane.snapshot.snapshot import PackedResources, Snapshot, pack
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


def test_a_types_version_is_the_sha256_of_each_name_and_body_nul_ended_in_name_order() -> None:
    """The version every stored snapshot and every Envoy's ACK carries: it must not move with how it is computed."""
    clusters = {name: Cluster(name=name) for name in ("b", "a", "c" * 200)}
    bodies = {name: message.SerializeToString(deterministic=True) for name, message in clusters.items()}
    expected = hashlib.sha256(b"".join(n.encode() + b"\0" + bodies[n] + b"\0" for n in sorted(bodies))).hexdigest()
    from_messages = Snapshot.build("node", {XdsType.CLUSTERS: clusters})
    from_bytes = Snapshot.build("node", {XdsType.CLUSTERS: PackedResources.of_parts(XdsType.CLUSTERS, bodies)})
    loaded = Snapshot.loads(from_messages.to_bytes())
    for snapshot in (from_messages, from_bytes, loaded, Snapshot.build("node", loaded.resources)):
        assert snapshot.versions[XdsType.CLUSTERS] == expected[:16]
    assert from_messages.versions[XdsType.ROUTES] == hashlib.sha256(b"").hexdigest()[:16]  # no resource of a type
