"""The stored form read in place (`delivery.stored`): what a cold load serves must be the checked path's bytes.

The oracle for each SotW body is protobuf's own `DiscoveryResponse` built from the
resources `Snapshot.loads` returns; the checked path itself (`Snapshot.loads`, then
`PreparedSnapshot.of` over plain dicts) must give the same.  A cold load must not slice
a type apart to answer a wildcard or a subscription naming every resource: that is what
makes it cheap, so it is asserted too.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from envoy.service.discovery.v3.discovery_pb2 import DiscoveryResponse
from google.protobuf import any_pb2
from meshplane.delivery import stored
from meshplane.delivery.cache import SnapshotCache
from meshplane.delivery.loader import read
from meshplane.delivery.metrics import Metrics
from meshplane.delivery.prepared import PreparedSnapshot
from meshplane.model.ids import ProxyId
from meshplane.publication.bucket import SourceUnavailable
from meshplane.publication.pointer import Pointer
from meshplane.snapshot.snapshot import BINARY_MAGIC, RESOURCE_TAG, UNFRAMED_MAGIC, Snapshot, binary_header
from meshplane.snapshot.types import XdsType

from .test_prepared_fast_path import _translated


def _oracle(snapshot: Snapshot, kind: XdsType, names: frozenset[str] | None = None) -> bytes:
    """protobuf's serialisation of the SotW body for `names` (None: all), resources in name order: the
    header fields, then the resources (a message is the concatenation of its fields, as `prepared` writes it)."""
    packed = snapshot.packed(kind)
    chosen = sorted(packed if names is None else names & set(packed))
    header = DiscoveryResponse(version_info=snapshot.versions[kind], type_url=kind.type_url)
    resources = DiscoveryResponse(resources=[any_pb2.Any.FromString(packed[n]) for n in chosen])
    return bytes(header.SerializeToString() + resources.SerializeToString(deterministic=True))


def _checked(data: bytes) -> PreparedSnapshot:
    """The checked path: `Snapshot.loads`, its resources as plain dicts, prepared."""
    loaded = Snapshot.loads(data)
    plain = Snapshot(loaded.node_id, {k: {n: loaded.of(k)[n] for n in loaded.of(k)} for k in XdsType},
                     loaded.versions)  # fmt: skip
    return PreparedSnapshot.of(plain)


def _unframed(snapshot: Snapshot) -> bytes:
    """The earlier binary form: the same header without region lengths, each `Any` stored bare."""
    header, offset = binary_header(snapshot.to_bytes())
    bodies = []
    for kind in XdsType:
        entry = header[kind.value]
        del entry["bytes"]
        bodies += [snapshot.packed(kind)[n] for n in entry["names"]]
    encoded = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    assert offset  # the framed form's header was read
    return b"".join([UNFRAMED_MAGIC, len(encoded).to_bytes(4, "big"), encoded, *bodies])


def test_the_framing_stored_is_discovery_response_resources() -> None:
    assert DiscoveryResponse.DESCRIPTOR.fields_by_name["resources"].number << 3 | 2 == RESOURCE_TAG[0]


@pytest.mark.parametrize("backends", [1, 160])  # 160: a route configuration above 16 KiB (3-byte lengths)
def test_a_cold_load_serves_protobufs_bytes_for_every_type_without_slicing_a_type_apart(backends: int) -> None:
    snapshot = _translated(backends)
    data = snapshot.to_bytes()
    assert data.startswith(BINARY_MAGIC)
    view, checked = PreparedSnapshot.of(stored.loads(data)), _checked(data)
    for kind in XdsType:
        every = frozenset(snapshot.packed(kind))
        assert view.types[kind].sotw_body(None) == checked.types[kind].sotw_body(None)
        assert view.types[kind].sotw_body(None)[0] == _oracle(snapshot, kind)
        assert view.types[kind].sotw_body(every | {"absent"})[0] == _oracle(snapshot, kind)  # names every one
        assert view.types[kind].packed.copies() == [], f"{kind.value} was sliced apart"  # type: ignore[attr-defined]
    some = frozenset(sorted(snapshot.packed(XdsType.CLUSTERS))[:1])
    assert view.types[XdsType.CLUSTERS].sotw_body(some)[0] == _oracle(snapshot, XdsType.CLUSTERS, some)


def test_a_cold_load_holds_the_same_snapshot_as_the_checked_path() -> None:
    snapshot = _translated()
    data = snapshot.to_bytes()
    located, loaded = stored.loads(data), Snapshot.loads(data)
    assert isinstance(located.packed(XdsType.CLUSTERS), stored.StoredResources)
    assert (located.node_id, located.versions, located.version) == (loaded.node_id, loaded.versions, loaded.version)
    for kind in XdsType:
        assert dict(located.packed(kind)) == dict(loaded.packed(kind)) == dict(snapshot.packed(kind))
    assert PreparedSnapshot.of(located).types == PreparedSnapshot.of(loaded).types


@pytest.mark.parametrize("form", ["json", "unframed"])
def test_other_stored_forms_are_read_by_the_checked_path(form: str) -> None:
    snapshot = _translated()
    data = snapshot.to_json() if form == "json" else _unframed(snapshot)
    located = stored.loads(data)
    assert not isinstance(located.packed(XdsType.CLUSTERS), stored.StoredResources)
    assert located.versions == snapshot.versions
    for kind in XdsType:
        assert PreparedSnapshot.of(located).types[kind].sotw_body(None)[0] == _oracle(snapshot, kind)


def _corrupt_framing(data: bytes) -> bytes:
    """The first cluster's framing tag replaced: sizes and lengths still add up."""
    _header, offset = binary_header(data)
    assert data[offset : offset + 1] == RESOURCE_TAG
    return data[:offset] + b"\x1a" + data[offset + 1 :]


def test_a_stored_body_that_does_not_add_up_is_refused_and_bad_framing_is_caught_when_sliced() -> None:
    data = _translated().to_bytes()
    with pytest.raises(ValueError, match="bytes the header does not account for"):
        stored.loads(data + b"junk")
    bad = _corrupt_framing(data)
    with pytest.raises(ValueError, match="framing does not match"):
        Snapshot.loads(bad)
    clusters = stored.loads(bad).packed(XdsType.CLUSTERS)
    with pytest.raises(ValueError, match="framing does not match"):
        clusters[next(iter(clusters))]


class _StoredSource:
    """A SnapshotSource that hands out stored bytes, as the bucket does."""

    def __init__(self, data: bytes, node_id: str) -> None:
        self.data, self.node_id = data, node_id

    def pointer(self, proxy: ProxyId) -> Pointer | None:
        return Pointer("v", proxy.path) if proxy.path == self.node_id else None

    def fetch(self, pointer: Pointer) -> Snapshot:
        raise AssertionError("a source with stored bytes is read through fetch_stored")

    def fetch_stored(self, pointer: Pointer) -> bytes:
        return self.data


def test_the_cache_reads_stored_bytes_in_place_and_an_unreadable_body_is_unavailable() -> None:
    snapshot = _translated()
    proxy = ProxyId.parse(snapshot.node_id)

    async def scenario() -> None:
        cache = SnapshotCache(_StoredSource(snapshot.to_bytes(), snapshot.node_id), Metrics(), retain=0)
        view = await cache.watch(proxy, lambda _changed: None)
        assert isinstance(view.types[XdsType.ENDPOINTS].packed, stored.StoredResources)
        assert view.types[XdsType.ENDPOINTS].sotw_body(None)[0] == _oracle(snapshot, XdsType.ENDPOINTS)

    asyncio.run(scenario())
    with pytest.raises(SourceUnavailable, match="ValueError"):
        read(_StoredSource(snapshot.to_bytes() + b"junk", snapshot.node_id), Pointer("v", snapshot.node_id))
