"""Immutable per-proxy snapshots with content-hash versions per xDS type.

A snapshot is what one Envoy should hold.  Versions are SHA-256 digests of the
deterministic serialisation, so an unchanged type keeps its version across
recomputes and delivery sends only the types that changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from google.protobuf import any_pb2
from google.protobuf.message import Message

from meshplane.snapshot.types import SEND_ORDER, XdsType

Resources = Mapping[str, Message]


def _digest(resources: Resources) -> str:
    hasher = hashlib.sha256()
    for name in sorted(resources):
        hasher.update(name.encode())
        hasher.update(b"\0")
        hasher.update(resources[name].SerializeToString(deterministic=True))
        hasher.update(b"\0")
    return hasher.hexdigest()[:16]


@dataclass(frozen=True)
class Snapshot:
    """The resources of one proxy, by type then name, plus their versions."""

    node_id: str
    resources: Mapping[XdsType, Resources]
    versions: Mapping[XdsType, str] = field(default_factory=dict)

    @classmethod
    def build(cls, node_id: str, resources: Mapping[XdsType, Resources]) -> Snapshot:
        full = {kind: MappingProxyType(dict(resources.get(kind, {}))) for kind in XdsType}
        return cls(node_id, MappingProxyType(full), MappingProxyType({k: _digest(v) for k, v in full.items()}))

    @property
    def version(self) -> str:
        """One version for the whole snapshot, for pointers and content-addressed keys."""
        return hashlib.sha256("".join(self.versions[k] for k in XdsType).encode()).hexdigest()[:16]

    def of(self, kind: XdsType) -> Resources:
        return self.resources.get(kind, {})

    def changed_types(self, previous: Snapshot | None) -> list[XdsType]:
        """The types whose version differs from `previous`, in send order."""
        if previous is None:
            return list(SEND_ORDER)
        return [k for k in SEND_ORDER if self.versions.get(k) != previous.versions.get(k)]

    def __iter__(self) -> Iterator[tuple[XdsType, str, Message]]:
        for kind in SEND_ORDER:
            for name, message in sorted(self.of(kind).items()):
                yield kind, name, message

    def to_document(self) -> dict[str, Any]:
        """A JSON-ready document for S3: each resource as a base64 `Any` plus versions."""
        import base64

        out: dict[str, Any] = {"nodeId": self.node_id, "version": self.version, "versions": dict(self.versions)}
        for kind in XdsType:
            packed = {}
            for name, message in sorted(self.of(kind).items()):
                wrapper = any_pb2.Any()
                wrapper.Pack(message)
                packed[name] = base64.b64encode(wrapper.SerializeToString(deterministic=True)).decode()
            out[kind.value] = packed
        return out

    def to_json(self) -> bytes:
        return json.dumps(self.to_document(), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Snapshot:
        import base64

        from meshplane.snapshot.registry import message_class

        resources: dict[XdsType, dict[str, Message]] = {}
        for kind in XdsType:
            decoded: dict[str, Message] = {}
            for name, blob in doc.get(kind.value, {}).items():
                wrapper = any_pb2.Any.FromString(base64.b64decode(blob))
                message = message_class(kind)()
                wrapper.Unpack(message)
                decoded[name] = message
            resources[kind] = decoded
        return cls.build(doc["nodeId"], resources)

    @classmethod
    def from_json(cls, data: bytes) -> Snapshot:
        return cls.from_document(json.loads(data))
