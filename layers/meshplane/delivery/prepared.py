"""Snapshots serialised once per version and shared by every stream of a node.

A protobuf message is the concatenation of its fields, and a repeated field may be
split across concatenated chunks.  So each resource is encoded once as a one-item
`DiscoveryResponse` / `DeltaDiscoveryResponse` chunk, and a stream's response is the
join of the chunks it needs plus a tiny per-stream header (nonce, version).  Fan-out
to thousands of streams then costs a bytes join, not a re-serialisation per stream.

A resource is held as its packed `Any` bytes (`Snapshot.packed`): for a snapshot loaded
from S3 those are the stored bytes, so a cold load never unpacks or repacks a message.
The chunks are framed around those bytes by hand; per-resource versions (Delta only)
are hashed on first use.  A type read by `stored.loads` stays its region of the stored
body, which is already framed: its whole SotW body is that region behind a header, and a
subscription naming every resource gets that same body.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from types import MappingProxyType

from envoy.service.discovery.v3.discovery_pb2 import (
    DeltaDiscoveryResponse,
    DiscoveryResponse,
    Resource,
)
from google.protobuf.message import Message

from meshplane.delivery.stored import StoredResources
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.types import XdsType


@lru_cache(maxsize=8192)  # resource lengths repeat a lot; a cache hit is several times cheaper than the loop
def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _tag(message: type[Message], name: str) -> bytes:
    """The key of a length-delimited field (wire type 2), from the descriptor rather than a magic byte."""
    return _varint(message.DESCRIPTOR.fields_by_name[name].number << 3 | 2)


def _framed(tag: bytes, payload: bytes) -> bytes:
    return tag + _varint(len(payload)) + payload


def _text(tag: bytes, value: str) -> bytes:
    """A proto3 string field: absent when empty, as protobuf writes it."""
    return _framed(tag, value.encode()) if value else b""


_SOTW_RESOURCES = _tag(DiscoveryResponse, "resources")
_DELTA_RESOURCES = _tag(DeltaDiscoveryResponse, "resources")
_RESOURCE_VERSION, _RESOURCE_BODY, _RESOURCE_NAME = (_tag(Resource, n) for n in ("version", "resource", "name"))


@lru_cache(maxsize=8192)
def _sotw_framing(length: int) -> bytes:
    """The `DiscoveryResponse.resources` key and length that go before a body of `length` bytes."""
    return _SOTW_RESOURCES + _varint(length)


def _sotw_joined(header: bytes, sizes: Iterable[int], bodies: list[bytes]) -> bytes:
    """`header` then each body behind its framing, joined: built by slice assignment, no Python-level loop."""
    parts = [header] * (2 * len(bodies) + 1)
    parts[1::2] = map(_sotw_framing, sizes)
    parts[2::2] = bodies
    return b"".join(parts)


def _sotw_parts(parts: list[bytes], bodies: Iterable[bytes]) -> list[bytes]:
    """Append the `DiscoveryResponse.resources` framing of each body: one join then makes the response."""
    extend = parts.extend
    for body in bodies:
        extend((_SOTW_RESOURCES, _varint(len(body)), body))
    return parts


@dataclass(frozen=True)
class PreparedResource:
    """One resource as its packed `Any`; its version and wire chunks derive from those bytes."""

    name: str
    packed: bytes

    @cached_property
    def version(self) -> str:
        """Hashed on first use: only Delta streams need per-resource versions."""
        return hashlib.sha256(self.packed).hexdigest()[:16]

    @property
    def sotw_chunk(self) -> bytes:
        """`DiscoveryResponse(resources=[any])`, serialised; not kept, SotW bodies are cached joined."""
        return b"".join(_sotw_parts([], (self.packed,)))

    @cached_property
    def delta_chunk(self) -> bytes:
        """`DeltaDiscoveryResponse(resources=[Resource(name, version, any)])`, serialised (fields in number order)."""
        body = _text(_RESOURCE_VERSION, self.version) + _framed(_RESOURCE_BODY, self.packed)
        return _framed(_DELTA_RESOURCES, body + _text(_RESOURCE_NAME, self.name))


@dataclass(frozen=True)
class PreparedType:
    """All resources of one type in one snapshot version."""

    kind: XdsType
    version: str
    packed: Mapping[str, bytes]  # name -> packed `Any`: all SotW needs
    _joined: dict[frozenset[str] | None, tuple[bytes, int]] = field(default_factory=dict, compare=False, repr=False)

    @cached_property
    def resources(self) -> Mapping[str, PreparedResource]:
        """Per-resource objects, made on first use (Delta streams): a SotW cold load never builds them."""
        return MappingProxyType({name: PreparedResource(name, body) for name, body in self.packed.items()})

    def built_blobs(self) -> tuple[list[bytes], int]:
        """The byte strings streams made from `packed` so far (cached SotW bodies, built Delta chunks)
        and how many per-resource Delta objects exist: the part of the cache's memory estimate that
        grows after a snapshot is prepared (`packed` is the fixed part)."""
        blobs = [body for body, _count in self._joined.values()]
        if isinstance(self.packed, StoredResources):
            blobs += self.packed.copies()  # a stored type sliced apart on a first ask by name
        built: Mapping[str, PreparedResource] = vars(self).get("resources", {})  # only once a Delta stream asked
        blobs += [chunk for r in built.values() if (chunk := vars(r).get("delta_chunk")) is not None]
        return blobs, len(built)

    def packed_bytes(self) -> int:
        """The bytes of every packed resource, summed without slicing a stored type apart."""
        packed = self.packed
        return packed.total_bytes if isinstance(packed, StoredResources) else sum(map(len, packed.values()))

    def sotw_body(self, names: frozenset[str] | None) -> tuple[bytes, int]:
        """The shared part of a SotW response for `names` (None = all) and its resource count."""
        if names is not None and len(names) >= len(self.packed) and names.issuperset(self.packed):
            names = None  # every resource asked for: the same response as the wildcard's, shared with it
        cached = self._joined.get(names)
        if cached is None:
            cached = self._sotw_join(names)
            if len(self._joined) > 64:  # bounded: name sets differ only between proxies' RDS/EDS subsets
                self._joined.clear()
            self._joined[names] = cached
        return cached

    def _sotw_join(self, names: frozenset[str] | None) -> tuple[bytes, int]:
        header = DiscoveryResponse(version_info=self.version, type_url=self.kind.type_url).SerializeToString()
        packed = self.packed
        region = packed.sotw_resources() if names is None and isinstance(packed, StoredResources) else None
        if region is not None:
            return b"".join((header, region)), len(packed)
        ordered = sorted(packed) if names is None else sorted(n for n in names if n in packed)
        bodies = [packed[n] for n in ordered]
        return _sotw_joined(header, map(len, bodies), bodies), len(bodies)

    def sotw_body_holding(self, held: Mapping[str, bytes], version: str) -> tuple[bytes, int]:
        """The full (wildcard) body plus the `held` resources this version lacks, as `version`:
        what keeps a stale cluster alive until routes stop naming it.  Not cached: rare and per stream."""
        packed = {**held, **self.packed}
        header = DiscoveryResponse(version_info=version, type_url=self.kind.type_url).SerializeToString()
        return b"".join(_sotw_parts([header], (packed[n] for n in sorted(packed)))), len(packed)


def _prepare_type(kind: XdsType, snapshot: Snapshot) -> PreparedType:
    packed = snapshot.packed(kind)
    held = packed if isinstance(packed, StoredResources) else MappingProxyType(packed)  # both read-only
    return PreparedType(kind, snapshot.versions[kind], held)


@dataclass(frozen=True)
class PreparedSnapshot:
    """A snapshot ready for the wire: one PreparedType per xDS type, and the snapshot it was prepared from."""

    node_id: str
    version: str
    types: Mapping[XdsType, PreparedType]
    snapshot: Snapshot = field(compare=False, repr=False)

    @classmethod
    def of(cls, snapshot: Snapshot) -> PreparedSnapshot:
        types = {kind: _prepare_type(kind, snapshot) for kind in XdsType}
        return cls(snapshot.node_id, snapshot.version, MappingProxyType(types), snapshot)

    def changed_types(self, previous: PreparedSnapshot | None) -> list[XdsType]:
        if previous is None:
            return list(XdsType)
        return [k for k in XdsType if self.types[k].version != previous.types[k].version]


def sotw_response(body: bytes, nonce: str) -> bytes:
    """Append the per-stream nonce to a shared SotW body."""
    trailer: bytes = DiscoveryResponse(nonce=nonce).SerializeToString()
    return body + trailer


def delta_response(kind: XdsType, version: str, chunks: Iterable[bytes], removed: Iterable[str], nonce: str) -> bytes:
    header: bytes = DeltaDiscoveryResponse(
        system_version_info=version, type_url=kind.type_url, removed_resources=sorted(removed), nonce=nonce
    ).SerializeToString()
    return header + b"".join(chunks)
