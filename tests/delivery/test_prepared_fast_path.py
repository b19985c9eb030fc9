"""A cold load prepares the stored `Any` bytes as they are, and must match the typed path byte for byte.

The oracle below is the typed path as it was before the fast path: unpack every
stored `Any` into its message, `Snapshot.build` (versions), then repack, hash and
serialise each resource through protobuf's own `DiscoveryResponse` and
`DeltaDiscoveryResponse`.  Any difference would make an Envoy see a spurious
change when its node is loaded by the other path.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Mapping
from typing import Any

import pytest
from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.config.core.v3.base_pb2 import Metadata
from envoy.config.listener.v3.listener_pb2 import Listener
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2
from envoy.service.discovery.v3.discovery_pb2 import DeltaDiscoveryResponse, DiscoveryResponse, Resource
from google.protobuf import any_pb2, struct_pb2
from google.protobuf.message import Message
from meshplane.delivery.cache import SnapshotCache, UnknownNode
from meshplane.delivery.metrics import Metrics
from meshplane.delivery.prepared import PreparedSnapshot
from meshplane.delivery.server.localbind import Bound
from meshplane.model.ids import Kind, ProxyId
from meshplane.model.state import MeshState
from meshplane.publication.pointer import Pointer
from meshplane.snapshot.registry import message_class
from meshplane.snapshot.snapshot import PACKING_KEY, PackedResources, Snapshot
from meshplane.snapshot.transform import bind_to
from meshplane.snapshot.types import XdsType
from meshplane.translate import translate
from support import MeshBuilder, listener, target

CA_ARN = "arn:aws:acm-pca:us-west-2:111122223333:certificate-authority/fast"
BIND = "127.0.9.9"
Prepared = dict[XdsType, tuple[str, dict[str, tuple[str, bytes, bytes]]]]


def _routed_mesh(backends: int = 3) -> MeshState:
    """`front` calls `backends` services, the first behind a router with weighted routes, over ACM-trusted TLS."""
    acm = {"clientPolicy": {"tls": {"validation": {"trust": {"acm": {"certificateAuthorityArns": [CA_ARN]}}}}}}
    split = {"weightedTargets": [target("back-0", 3), target("back-1", 1)]}
    mesh = (
        MeshBuilder("fast")
        .node("front", listener(8080), backends=tuple(f"svc-{i}.local" for i in range(backends)), backendDefaults=acm)
        .service("svc-0.local", router="r")
        .router("r", 9090)
        .route("r", "split", {"httpRoute": {"match": {"prefix": "/"}, "action": split}})
        .endpoint("front", "10.1.0.1")
    )
    for i in range(backends):
        mesh.node(f"back-{i}", listener(9090)).endpoint(f"back-{i}", f"10.0.{i // 250}.{i % 250 + 1}")
        mesh.endpoint(f"back-{i}", f"10.2.{i // 250}.{i % 250 + 1}")
        if i:
            mesh.service(f"svc-{i}.local", node=f"back-{i}")
    return mesh.build()


def _with_secret(snapshot: Snapshot) -> Snapshot:
    """Translation references the ACM trust as an SDS secret; the pipeline supplies it."""
    secret = secret_pb2.Secret(name=CA_ARN)
    secret.validation_context.CopyFrom(common_pb2.CertificateValidationContext())
    secret.validation_context.trusted_ca.inline_string = "-----BEGIN CERTIFICATE-----\nfast\n"
    resources = {kind: dict(snapshot.of(kind)) for kind in XdsType}
    resources[XdsType.SECRETS][CA_ARN] = secret
    return Snapshot.build(snapshot.node_id, resources)


def _translated(backends: int = 3) -> Snapshot:
    return _with_secret(translate(_routed_mesh(backends), ProxyId("fast", Kind.VIRTUAL_NODE, "front")))


def _unpack(kind: XdsType, blob: str) -> Message:
    message = message_class(kind)()
    assert any_pb2.Any.FromString(base64.b64decode(blob)).Unpack(message)
    return message


def _typed_reference(data: bytes, bind: str | None = None) -> Prepared:
    """What the typed path (before the fast path) prepares from a stored document."""
    doc = json.loads(data)
    typed = {kind: {n: _unpack(kind, blob) for n, blob in doc.get(kind.value, {}).items()} for kind in XdsType}
    snapshot = Snapshot.build(doc["nodeId"], typed)
    if bind is not None:
        snapshot = bind_to(snapshot, bind)
    out: Prepared = {}
    for kind in XdsType:
        chunks = {}
        for name, message in snapshot.of(kind).items():
            packed = any_pb2.Any()
            packed.Pack(message, deterministic=True)
            version = hashlib.sha256(packed.SerializeToString(deterministic=True)).hexdigest()[:16]
            delta = DeltaDiscoveryResponse(resources=[Resource(name=name, version=version, resource=packed)])
            sotw = DiscoveryResponse(resources=[packed]).SerializeToString()
            chunks[name] = (version, sotw, delta.SerializeToString())
        out[kind] = (snapshot.versions[kind], chunks)
    return out


def _of(prepared: PreparedSnapshot) -> Prepared:
    return {
        kind: (t.version, {n: (r.version, r.sotw_chunk, r.delta_chunk) for n, r in t.resources.items()})
        for kind, t in prepared.types.items()
    }


def _packed_kinds(snapshot: Snapshot) -> set[XdsType]:
    return {kind for kind in XdsType if isinstance(snapshot.of(kind), PackedResources)}


@pytest.mark.parametrize("backends", [1, 3, 160])  # 160: a route configuration above 16 KiB (3-byte lengths)
def test_a_stored_snapshot_is_prepared_from_its_bytes_exactly_as_the_typed_path_would(backends: int) -> None:
    data = _translated(backends).to_json()
    loaded = Snapshot.from_json(data)
    assert _packed_kinds(loaded) == set(XdsType)  # nothing was unpacked
    prepared = PreparedSnapshot.of(loaded)
    assert _of(prepared) == _typed_reference(data)
    assert all(prepared.types[k].resources for k in XdsType)  # secrets, endpoints, routes... all present
    assert prepared.version == Snapshot.build(loaded.node_id, {k: dict(loaded.of(k)) for k in XdsType}).version


def test_whole_responses_from_the_fast_path_parse_back_to_the_stored_resources() -> None:
    data = _translated().to_json()
    prepared = PreparedSnapshot.of(Snapshot.from_json(data))
    body, count = prepared.types[XdsType.CLUSTERS].sotw_body(None)
    response = DiscoveryResponse.FromString(body)
    assert count == len(response.resources) == len(json.loads(data)["clusters"])
    assert response.version_info == prepared.types[XdsType.CLUSTERS].version
    routes = prepared.types[XdsType.ROUTES].resources
    delta = DeltaDiscoveryResponse.FromString(b"".join(r.delta_chunk for r in routes.values()))
    assert {(r.name, r.version) for r in delta.resources} == {(n, r.version) for n, r in routes.items()}


def test_a_bind_rewrite_unpacks_and_matches_the_typed_path() -> None:
    data = _translated().to_json()
    view = Bound(BIND)(PreparedSnapshot.of(Snapshot.from_json(data)))
    assert _of(view) == _typed_reference(data, bind=BIND)
    packed = view.types[XdsType.LISTENERS].resources["lds_ingress_0.0.0.0_15000"].packed
    assert Listener.FromString(any_pb2.Any.FromString(packed).value).address.socket_address.address == BIND


def _old_document(snapshot: Snapshot, blobs: Mapping[XdsType, Mapping[str, bytes]] | None = None) -> dict[str, Any]:
    """A document as written before the `packing` key; `blobs` overrides stored `Any` bytes."""
    doc = snapshot.to_document()
    del doc[PACKING_KEY]
    for kind, raw in (blobs or {}).items():
        doc[kind.value].update({name: base64.b64encode(blob).decode() for name, blob in raw.items()})
    return doc


def test_an_old_document_with_deterministic_bytes_is_verified_and_takes_the_fast_path() -> None:
    data = json.dumps(_old_document(_translated())).encode()
    loaded = Snapshot.from_json(data)
    assert _packed_kinds(loaded) == set(XdsType)
    assert _of(PreparedSnapshot.of(loaded)) == _typed_reference(data)


def _map_out_of_order(name: str) -> bytes:
    """A Cluster whose metadata map entries are stored b-then-a, as a non-deterministic `Pack` may write."""
    parts = [Cluster(name=name)]
    for key in ("b", "a"):
        part = Cluster()
        entry = struct_pb2.Struct(fields={"k": struct_pb2.Value(string_value=key)})
        part.metadata.CopyFrom(Metadata(filter_metadata={key: entry}))
        parts.append(part)
    value = b"".join(p.SerializeToString() for p in parts)
    assert value != Cluster.FromString(value).SerializeToString(deterministic=True)
    return any_pb2.Any(type_url=XdsType.CLUSTERS.type_url, value=value).SerializeToString()


def test_an_old_document_with_non_deterministic_bytes_falls_back_to_repacking_that_type() -> None:
    snapshot = _translated()
    name = next(iter(snapshot.of(XdsType.CLUSTERS)))
    odd = _map_out_of_order(name)
    clusters = {n: message for n, message in snapshot.of(XdsType.CLUSTERS).items()}
    clusters[name] = Cluster.FromString(any_pb2.Any.FromString(odd).value)
    written = Snapshot.build(snapshot.node_id, {**{k: snapshot.of(k) for k in XdsType}, XdsType.CLUSTERS: clusters})
    data = json.dumps(_old_document(written, {XdsType.CLUSTERS: {name: odd}})).encode()
    loaded = Snapshot.from_json(data)
    assert _packed_kinds(loaded) == set(XdsType) - {XdsType.CLUSTERS}
    assert loaded.versions == written.versions
    assert _of(PreparedSnapshot.of(loaded)) == _typed_reference(data)


def test_a_reloaded_snapshot_writes_the_same_document() -> None:
    data = _translated().to_json()
    assert Snapshot.from_json(data).to_json() == data


class _JsonSource:
    """A SnapshotSource over stored documents, counting pointer reads."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.data = {snapshot.node_id: snapshot.to_json()}
        self.pointers = 0

    def pointer(self, proxy: ProxyId) -> Pointer | None:
        self.pointers += 1
        return Pointer("v", proxy.path) if proxy.path in self.data else None

    def fetch(self, pointer: Pointer) -> Snapshot:
        return Snapshot.from_json(self.data[pointer.key])


def test_a_cold_stream_loads_in_one_trip_and_gets_the_typed_path_bytes() -> None:
    snapshot = _translated()
    source = _JsonSource(snapshot)
    trips: list[object] = []

    async def counted(fn: Any, *args: Any) -> Any:
        trips.append(fn)
        return fn(*args)

    async def scenario() -> None:
        cache = SnapshotCache(source, Metrics(), run_blocking=counted, retain=0)  # type: ignore[arg-type]
        view = await cache.watch(ProxyId.parse(snapshot.node_id), lambda _changed: None)
        assert (len(trips), source.pointers) == (1, 1)
        assert _of(view) == _typed_reference(source.data[snapshot.node_id])
        with pytest.raises(UnknownNode):
            await cache.watch(ProxyId("fast", Kind.VIRTUAL_NODE, "nobody"), lambda _changed: None)

    asyncio.run(scenario())


def test_the_stored_binary_form_loads_to_the_same_bytes_names_and_versions_as_the_json_form() -> None:
    snapshot = _translated()
    from_binary, from_json = Snapshot.loads(snapshot.to_bytes()), Snapshot.loads(snapshot.to_json())
    assert from_binary.node_id == from_json.node_id == snapshot.node_id
    assert from_binary.versions == from_json.versions == snapshot.versions
    for kind in XdsType:
        assert from_binary.packed(kind) == from_json.packed(kind) == snapshot.packed(kind)
        assert isinstance(from_binary.of(kind), PackedResources), "served as stored, never unpacked"
    assert PreparedSnapshot.of(from_binary).types == PreparedSnapshot.of(from_json).types
    assert len(snapshot.to_bytes()) < len(snapshot.to_json()) * 0.8, "no base64"


def test_a_binary_snapshot_whose_header_does_not_match_its_body_is_refused() -> None:
    data = _translated().to_bytes()
    with pytest.raises(ValueError, match="bytes the header does not account for"):
        Snapshot.loads(data + b"junk")
