"""Snapshots serialised once per version and shared by every stream of a node.

A protobuf message is the concatenation of its fields, and a repeated field may be
split across concatenated chunks.  So each resource is encoded once as a one-item
`DiscoveryResponse` / `DeltaDiscoveryResponse` chunk, and a stream's response is the
join of the chunks it needs plus a tiny per-stream header (nonce, version).  Fan-out
to thousands of streams then costs a bytes join, not a re-serialisation per stream.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from envoy.service.discovery.v3.discovery_pb2 import (
    DeltaDiscoveryResponse,
    DiscoveryResponse,
    Resource,
)
from google.protobuf import any_pb2

from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.types import XdsType


@dataclass(frozen=True)
class PreparedResource:
    """One resource, with its own version and both wire chunks."""

    name: str
    version: str
    sotw_chunk: bytes
    delta_chunk: bytes


@dataclass(frozen=True)
class PreparedType:
    """All resources of one type in one snapshot version."""

    kind: XdsType
    version: str
    resources: Mapping[str, PreparedResource]
    _joined: dict[frozenset[str] | None, tuple[bytes, int]] = field(default_factory=dict, compare=False, repr=False)

    def sotw_body(self, names: frozenset[str] | None) -> tuple[bytes, int]:
        """The shared part of a SotW response for `names` (None = all) and its resource count."""
        cached = self._joined.get(names)
        if cached is None:
            chosen = (
                self.resources.values() if names is None else (self.resources[n] for n in names if n in self.resources)
            )
            chunks = [r.sotw_chunk for r in sorted(chosen, key=lambda r: r.name)]
            header = DiscoveryResponse(version_info=self.version, type_url=self.kind.type_url).SerializeToString()
            cached = (header + b"".join(chunks), len(chunks))
            if len(self._joined) > 64:  # bounded: name sets differ only between proxies' RDS/EDS subsets
                self._joined.clear()
            self._joined[names] = cached
        return cached


def _prepare_type(kind: XdsType, snapshot: Snapshot) -> PreparedType:
    resources: dict[str, PreparedResource] = {}
    for name, message in snapshot.of(kind).items():
        packed = any_pb2.Any()
        packed.Pack(message, deterministic=True)
        body = packed.SerializeToString(deterministic=True)
        version = hashlib.sha256(body).hexdigest()[:16]
        resources[name] = PreparedResource(
            name=name,
            version=version,
            sotw_chunk=DiscoveryResponse(resources=[packed]).SerializeToString(),
            delta_chunk=DeltaDiscoveryResponse(
                resources=[Resource(name=name, version=version, resource=packed)]
            ).SerializeToString(),
        )
    return PreparedType(kind, snapshot.versions[kind], MappingProxyType(resources))


@dataclass(frozen=True)
class PreparedSnapshot:
    """A snapshot ready for the wire: one PreparedType per xDS type."""

    node_id: str
    version: str
    types: Mapping[XdsType, PreparedType]

    @classmethod
    def of(cls, snapshot: Snapshot) -> PreparedSnapshot:
        types = {kind: _prepare_type(kind, snapshot) for kind in XdsType}
        return cls(snapshot.node_id, snapshot.version, MappingProxyType(types))

    def changed_types(self, previous: PreparedSnapshot | None) -> list[XdsType]:
        if previous is None:
            return list(XdsType)
        return [k for k in XdsType if self.types[k].version != previous.types[k].version]


def sotw_response(body: bytes, nonce: str) -> bytes:
    """Append the per-stream nonce to a shared SotW body."""
    return body + DiscoveryResponse(nonce=nonce).SerializeToString()


def delta_response(kind: XdsType, version: str, chunks: Iterable[bytes], removed: Iterable[str], nonce: str) -> bytes:
    header = DeltaDiscoveryResponse(
        system_version_info=version, type_url=kind.type_url, removed_resources=sorted(removed), nonce=nonce
    ).SerializeToString()
    return header + b"".join(chunks)
