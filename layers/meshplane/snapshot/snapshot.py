"""Immutable per-proxy snapshots with content-hash versions per xDS type.

A snapshot is what one Envoy should hold.  Versions are SHA-256 digests of the
deterministic serialisation, so an unchanged type keeps its version across
recomputes and delivery sends only the types that changed.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import itertools
import json
import operator
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from google.protobuf import any_pb2
from google.protobuf.message import Message

from meshplane.snapshot.packing import value_of, varint, wrap
from meshplane.snapshot.types import SEND_ORDER, XdsType

Resources = Mapping[str, Message]
_KINDS = tuple(XdsType)  # iterated once per snapshot built: an Enum's own iteration is a generator each time
_NUL = b"\0"
Packed = Mapping[str, bytes]  # name -> the resource's deterministic serialised `Any`

# The document key that says every stored `Any` was packed and serialised deterministically,
# so its bytes are exactly what delivery would produce from the typed message.
PACKING_KEY, DETERMINISTIC = "packing", "deterministic"
BINARY_MAGIC = b"MPSNAP2\n"  # the first bytes of `Snapshot.to_bytes`; a JSON document starts with "{"
UNFRAMED_MAGIC = b"MPSNAP1\n"  # the earlier binary form, still read: the same header, each `Any` stored bare
# Each stored `Any` is framed as a `DiscoveryResponse.resources` item (field 2, length-delimited), so a
# type's stored region is, byte for byte, the resources of its whole SotW response.
RESOURCE_TAG = b"\x12"
_LENGTH_BYTES = 4  # the header's length, big-endian, after the magic


@functools.lru_cache(maxsize=4096)
def _framing(size: int) -> bytes:
    return RESOURCE_TAG + varint(size)


def binary_header(data: bytes) -> tuple[dict[str, Any], int]:
    """The JSON header of a `to_bytes` form (either magic) and the offset where its first type's region starts."""
    start = len(BINARY_MAGIC) + _LENGTH_BYTES
    end = start + int.from_bytes(data[len(BINARY_MAGIC) : start], "big")
    return json.loads(data[start:end]), end


def resource_bounds(sizes: list[int], offset: int, framed: bool) -> tuple[list[int], list[int]]:
    """Where each stored `Any` of a type whose region starts at `offset` starts and ends (the last end
    is where the region ends); `framed`: each is preceded by its `RESOURCE_TAG` framing."""
    heads = list(map(len, map(_framing, sizes))) if framed else [0] * len(sizes)
    edges = list(itertools.accumulate(map(operator.add, heads, sizes), initial=offset))
    return list(map(operator.add, edges, heads)), edges[1:] or [offset]


def framing_intact(data: bytes, sizes: list[int], starts: list[int]) -> bool:
    """Whether each framed `Any` (of `sizes`, starting at `starts`) is preceded by exactly its framing."""
    framings = list(map(_framing, sizes))
    return all(map(data.startswith, framings, map(operator.sub, starts, map(len, framings))))


def _digest_serialised(items: Iterable[tuple[str, bytes | memoryview]]) -> str:
    """The per-type version over (name, deterministic message bytes) pairs, in name order:
    SHA-256 of each name and body, each followed by a NUL byte."""
    parts: list[bytes | memoryview] = []
    for name, body in items:
        parts += (name.encode(), body)
    return _sha256_nul_ended(parts)


def _digest_of(names: list[str], bodies: Mapping[str, bytes]) -> str:
    """`_digest_serialised` of `bodies` in the order of `names` (sorted), the pairs laid out in C: one call per proxy
    and type, over dozens to thousands of resources."""
    return _sha256_nul_ended(list(itertools.chain.from_iterable(
        zip(map(str.encode, names), map(bodies.__getitem__, names), strict=True))))  # fmt: skip


def _sha256_nul_ended(parts: list[bytes | memoryview]) -> str:
    """The version of `parts`, each followed by a NUL byte."""
    if not parts:
        return hashlib.sha256().hexdigest()[:16]
    digest = hashlib.sha256(_NUL.join(parts))
    digest.update(_NUL)
    return digest.hexdigest()[:16]


_EMPTY_DIGEST = _digest_serialised(())


def _digest(resources: Resources) -> str:
    return _digest_serialised((n, resources[n].SerializeToString(deterministic=True)) for n in sorted(resources))


def pack(message: Message) -> bytes:
    """The resource's wire form inside xDS responses: its `Any`, deterministic all the way down."""
    wrapper = any_pb2.Any()
    wrapper.Pack(message, deterministic=True)
    return wrapper.SerializeToString(deterministic=True)


def _packed_type(kind: XdsType, resources: Resources, serialised: Mapping[str, bytes]) -> tuple[PackedResources, str]:
    """One type's resources with their `pack` bytes and version, every message serialised once.

    Resources already held as stored bytes keep them; `serialised` supplies the deterministic
    bytes of messages a render cache has serialised before.
    """
    if not resources:
        return PackedResources(kind, {}), _EMPTY_DIGEST
    if isinstance(resources, PackedResources):
        raw, known = resources.raw, resources.bodies
        if known is not None:
            return resources, _digest_of(sorted(known), known)
        return resources, _digest_serialised((n, value_of(kind, raw[n])) for n in sorted(raw))
    values = {name: serialised.get(name) or message.SerializeToString(deterministic=True)
              for name, message in resources.items()}
    packed = PackedResources(kind, {name: wrap(kind, value) for name, value in values.items()}, resources)
    packed.bodies = values
    return packed, _digest_of(sorted(values), values)


def _unpack(kind: XdsType, raw: bytes) -> Message:
    from meshplane.snapshot.registry import message_class

    message = message_class(kind)()
    any_pb2.Any.FromString(raw).Unpack(message)
    return message


def _canonical_value(kind: XdsType, raw: bytes) -> bytes | None:
    """The packed message bytes if `raw` is exactly what `pack` writes for this kind, else None."""
    wrapper = any_pb2.Any.FromString(raw)
    if wrapper.type_url != kind.type_url or wrapper.SerializeToString(deterministic=True) != raw:
        return None
    return wrapper.value


def _verified(kind: XdsType, raw: Packed, version: str) -> bool:
    """True when the stored bytes hash to the stored version, i.e. they are the deterministic form.

    Documents written before `PACKING_KEY` packed `Any` values non-deterministically
    (map order may differ); those resources are unpacked and repacked instead.
    """
    values: list[tuple[str, bytes]] = []
    for name in sorted(raw):
        value = _canonical_value(kind, raw[name])
        if value is None:
            return False
        values.append((name, value))
    return _digest_serialised(values) == version


class PackedResources(Mapping[str, Message]):
    """Resources held as their stored `Any` bytes, unpacked only when someone reads a message.

    Delivery sends the bytes as they are, so a node without a bind rewrite never
    materialises typed messages at all.
    """

    def __init__(self, kind: XdsType, raw: Packed, typed: Mapping[str, Message] | None = None) -> None:
        """`typed`, when given, holds the messages `raw` was packed from (they are not unpacked again)."""
        self._kind = kind
        self.raw = raw
        self._typed: dict[str, Message] = dict(typed) if typed is not None else {}
        # Each resource's deterministic message bytes, where they were at hand when packing (`assemble`).
        self.bodies: Mapping[str, bytes] | None = None

    @classmethod
    def assemble(cls, kind: XdsType, messages: Mapping[str, Message], bodies: Mapping[str, bytes]) -> PackedResources:
        """One type's resources from built `messages` and from `bodies` (name -> deterministic message
        bytes) written without building a message; a body's message is parsed only if someone reads it."""
        values = {name: message.SerializeToString(deterministic=True) for name, message in messages.items()}
        values.update(bodies)
        packed = cls(kind, {name: wrap(kind, value) for name, value in values.items()}, messages)
        packed.bodies = values
        return packed

    @classmethod
    def of_parts(cls, kind: XdsType, parts: Mapping[str, Message | bytes | tuple[bytes, bytes]],
                 known: Mapping[int, bytes] | None = None) -> PackedResources:
        """One type's resources from `parts`, each a built message, its deterministic bytes written without
        building one (parsed only if someone reads it), or those bytes with their `Any` (`packing.wired`);
        `known` holds the deterministic bytes of built messages by their `id` (a render cache's), which are
        then not serialised again."""
        bodies: dict[str, bytes] = {}
        raw: dict[str, bytes] = {}
        typed: dict[str, Message] = {}
        for name, part in parts.items():
            if type(part) is tuple:
                bodies[name], raw[name] = part
                continue
            if isinstance(part, bytes):
                body = part
            else:
                assert isinstance(part, Message)
                typed[name] = part
                found = known.get(id(part)) if known is not None else None
                body = found if found is not None else part.SerializeToString(deterministic=True)
            bodies[name] = body
            raw[name] = wrap(kind, body)
        packed = cls(kind, raw, typed)
        packed.bodies = bodies
        return packed

    def body(self, name: str) -> bytes:
        """The deterministic bytes of the message `name`, without parsing it."""
        known = self.bodies.get(name) if self.bodies is not None else None
        return known if known is not None else bytes(value_of(self._kind, self.raw[name]))

    def __getitem__(self, name: str) -> Message:
        message = self._typed.get(name)
        if message is None:
            message = self._typed[name] = _unpack(self._kind, self.raw[name])
        return message

    def __contains__(self, name: object) -> bool:
        return name in self.raw  # Mapping's default would unpack the message to answer

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)


@dataclass(frozen=True)
class Snapshot:
    """The resources of one proxy, by type then name, plus their versions."""

    node_id: str
    resources: Mapping[XdsType, Resources]
    versions: Mapping[XdsType, str] = field(default_factory=dict)

    @classmethod
    def build(cls, node_id: str, resources: Mapping[XdsType, Resources],
              serialised: Mapping[XdsType, Mapping[str, bytes]] | None = None) -> Snapshot:
        """The snapshot of `resources`, packed and versioned now (publishing then writes the packed bytes).

        `serialised[kind][name]`, where given, must be the deterministic serialisation of
        `resources[kind][name]` (the translator's render cache keeps both).
        """
        full: dict[XdsType, Resources] = {}
        versions: dict[XdsType, str] = {}
        given = serialised or {}
        for kind in _KINDS:
            full[kind], versions[kind] = _packed_type(kind, resources.get(kind, {}), given.get(kind, {}))
        return cls(node_id, MappingProxyType(full), MappingProxyType(versions))

    @property
    def version(self) -> str:
        """One version for the whole snapshot, for pointers and content-addressed keys."""
        return hashlib.sha256("".join(self.versions[k] for k in XdsType).encode()).hexdigest()[:16]

    def of(self, kind: XdsType) -> Resources:
        return self.resources.get(kind, {})

    def packed(self, kind: XdsType) -> Packed:
        """Each resource's `pack` bytes: the stored ones when loaded from a document, else packed now."""
        resources = self.of(kind)
        if isinstance(resources, PackedResources):
            return resources.raw
        return {name: pack(message) for name, message in resources.items()}

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
            out[kind.value] = {name: base64.b64encode(raw).decode() for name, raw in sorted(self.packed(kind).items())}
        out[PACKING_KEY] = DETERMINISTIC
        return out

    def to_json(self) -> bytes:
        return json.dumps(self.to_document(), sort_keys=True, separators=(",", ":")).encode()

    def to_bytes(self) -> bytes:
        """The stored form: `BINARY_MAGIC`, a length-prefixed JSON header (node, versions, and per
        type the resource names and sizes in name order, and its region's bytes), then per type its
        region: every packed `Any` in name order, each behind its `RESOURCE_TAG` framing.

        The bytes are never base64-encoded or wrapped in JSON, so loading is slicing; and a
        type's region is already the resources of its SotW response, so the first Envoy of a
        node the ADS server does not hold waits for one copy of it, not a framing per resource.
        """
        header: dict[str, Any] = {"nodeId": self.node_id, "version": self.version, "versions": dict(self.versions),
                                  PACKING_KEY: DETERMINISTIC}  # fmt: skip
        regions: list[bytes] = []
        for kind in XdsType:
            packed = self.packed(kind)
            names = sorted(packed)
            bodies = [packed[n] for n in names]
            sizes = list(map(len, bodies))
            region = b"".join(itertools.chain.from_iterable(zip(map(_framing, sizes), bodies, strict=True)))
            header[kind.value] = {"names": names, "sizes": sizes, "bytes": len(region)}
            regions.append(region)
        encoded = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
        return b"".join([BINARY_MAGIC, len(encoded).to_bytes(_LENGTH_BYTES, "big"), encoded, *regions])

    @classmethod
    def loads(cls, data: bytes) -> Snapshot:
        """A stored snapshot in either form: `to_bytes` (what the pipeline writes) or `to_json`."""
        if data.startswith((BINARY_MAGIC, UNFRAMED_MAGIC)):
            return cls._from_binary(data)
        return cls.from_json(data)

    @classmethod
    def _from_binary(cls, data: bytes) -> Snapshot:
        header, offset = binary_header(data)
        framed = data.startswith(BINARY_MAGIC)
        raws: dict[XdsType, Packed] = {}
        for kind in XdsType:
            entry = header.get(kind.value) or {"names": [], "sizes": []}
            starts, ends = resource_bounds(entry["sizes"], offset, framed)  # slicing stays in C from here
            if framed and not framing_intact(data, entry["sizes"], starts):
                raise ValueError(f"snapshot of {header.get('nodeId')!r}: {kind.value} framing does not match its sizes")
            raws[kind] = dict(zip(entry["names"], map(data.__getitem__, map(slice, starts, ends)), strict=True))
            offset = ends[-1]
        if offset != len(data):
            extra = len(data) - offset
            raise ValueError(f"snapshot of {header.get('nodeId')!r}: {extra} bytes the header does not account for")
        trusted = header.get(PACKING_KEY) == DETERMINISTIC
        return cls._from_raw(header["nodeId"], header.get("versions", {}), trusted, raws)

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Snapshot:
        """Keep the stored `Any` bytes when they are the deterministic form; unpack the rest now."""
        raws = {}
        for kind in XdsType:
            blobs = doc.get(kind.value, {})
            raws[kind] = dict(zip(blobs, map(binascii.a2b_base64, blobs.values()), strict=True))
        return cls._from_raw(doc["nodeId"], doc.get("versions", {}), doc.get(PACKING_KEY) == DETERMINISTIC, raws)

    @classmethod
    def _from_raw(
        cls, node_id: str, stored: Mapping[str, str], trusted: bool, raws: Mapping[XdsType, Packed]
    ) -> Snapshot:
        resources: dict[XdsType, Resources] = {}
        versions: dict[XdsType, str] = {}
        for kind in XdsType:
            raw = raws[kind]
            version = stored.get(kind.value)
            if version and (_all_of_type(kind, raw) if trusted else _verified(kind, raw, version)):
                resources[kind], versions[kind] = PackedResources(kind, raw), version
            else:
                typed = {name: _unpack(kind, blob) for name, blob in raw.items()}
                resources[kind], versions[kind] = MappingProxyType(typed), _digest(typed)
        return cls(node_id, MappingProxyType(resources), MappingProxyType(versions))

    @classmethod
    def from_json(cls, data: bytes) -> Snapshot:
        return cls.from_document(json.loads(data))


def _all_of_type(kind: XdsType, raw: Packed) -> bool:
    """Cheap guard for trusted documents: every `Any` starts with this kind's type URL field."""
    return all(map(bytes.startswith, raw.values(), itertools.repeat(_pack_prefix(kind))))


def _pack_prefix(kind: XdsType) -> bytes:
    """The leading bytes of every `pack` result of this kind: the serialised `type_url` field."""
    return any_pb2.Any(type_url=kind.type_url).SerializeToString()
