"""A stored snapshot (`Snapshot.to_bytes`) read for serving: checked, located, never sliced apart up front.

`Snapshot.loads` makes one `bytes` object per resource, and a first SotW response would
then frame each of them again: the first Envoy of a node the server does not hold would
wait for both.  The stored form already frames every `Any` as a `DiscoveryResponse`
resource, in name order, so here a type stays its region of the stored body: its whole
SotW response is that region behind a header, and the per-resource mapping (Delta,
subsets, draining, local rebinds) is sliced only when something asks for a resource by name.

What is served is what `Snapshot.loads` gives for the same bytes.  Loading checks what
costs nothing per resource: the form, the header, that every byte is accounted for and
that names are in order (else the type is framed the usual way).  The per-resource checks
of `Snapshot.loads` (each framing matches its size, each `Any` carries its type's URL)
guard against a writer's bug, not a node reading another's configuration, which the
pointer decides; they run when a type is first sliced by name.  Anything else (the JSON
or the unframed form, an older document, a type without its version) is read by
`Snapshot.loads` itself.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterator, Mapping
from functools import cached_property
from types import MappingProxyType

from meshplane.snapshot.packing import type_field
from meshplane.snapshot.snapshot import (
    BINARY_MAGIC,
    DETERMINISTIC,
    PACKING_KEY,
    RESOURCE_TAG,
    PackedResources,
    Resources,
    Snapshot,
    binary_header,
    framing_intact,
    resource_bounds,
)
from meshplane.snapshot.types import XdsType


class StoredResources(Mapping[str, bytes]):
    """One type's packed `Any`s as its region of the stored body: names in name order, each framed."""

    def __init__(self, kind: XdsType, data: bytes, names: list[str], sizes: list[int], region: slice) -> None:
        """Resource i is the `sizes[i]` bytes behind its framing, the i-th item of `data[region]`."""
        self._kind = kind
        self._data = data
        self._names = names
        self._sizes = sizes
        self._region = region

    @cached_property
    def _sliced(self) -> dict[str, bytes]:
        """Every resource as its own bytes, checked as `Snapshot.loads` checks them: made on the first ask by name."""
        data, sizes = self._data, self._sizes
        starts, ends = resource_bounds(sizes, self._region.start, framed=True)
        if ends[-1] != self._region.stop or not framing_intact(data, sizes, starts):
            raise ValueError(f"{self._kind.value}: the stored framing does not match the sizes")
        if not all(map(data.startswith, itertools.repeat(type_field(self._kind)), starts, ends)):
            raise ValueError(f"{self._kind.value}: a stored resource is not of this type")
        return dict(zip(self._names, map(data.__getitem__, map(slice, starts, ends)), strict=True))

    def __getitem__(self, name: str) -> bytes:
        return self._sliced[name]

    def __contains__(self, name: object) -> bool:
        return name in self._sliced

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    @property
    def total_bytes(self) -> int:
        """The packed bytes of the whole type (framing left out), without slicing a resource."""
        return sum(self._sizes)

    def copies(self) -> list[bytes]:
        """The per-resource bytes made so far: none until a resource was asked for by name."""
        made: dict[str, bytes] | None = vars(self).get("_sliced")
        return [] if made is None else list(made.values())

    def sotw_resources(self) -> memoryview | None:
        """Every resource framed as a `DiscoveryResponse` item, in `sorted(names)` order, as stored; None
        when the stored names are not strictly in that order (`to_bytes` always writes them so)."""
        names = self._names
        if not all(map(operator.lt, names, itertools.islice(names, 1, None))):
            return None
        return memoryview(self._data)[self._region]


def _located(data: bytes) -> Snapshot | None:
    """The snapshot with each type left in place, or None when `Snapshot.loads` must decide."""
    if not data.startswith(BINARY_MAGIC):
        return None
    header, offset = binary_header(data)
    versions: Mapping[str, str] = header.get("versions", {})
    if header.get(PACKING_KEY) != DETERMINISTIC or not all(versions.get(kind.value) for kind in XdsType):
        return None
    resources: dict[XdsType, Resources] = {}
    for kind in XdsType:
        entry = header.get(kind.value) or {"names": [], "sizes": [], "bytes": 0}
        names, sizes, length = entry["names"], entry["sizes"], entry["bytes"]
        if len(names) != len(sizes) or length < sum(sizes) + len(sizes) * len(RESOURCE_TAG):
            raise ValueError(f"{kind.value}: {len(names)} names, {len(sizes)} sizes and {length} bytes disagree")
        region = slice(offset, offset + length)
        resources[kind] = PackedResources(kind, StoredResources(kind, data, names, sizes, region))
        offset += length
    if offset != len(data):
        raise ValueError(f"snapshot of {header.get('nodeId')!r}: {len(data) - offset} bytes the header does not "
                         "account for")  # fmt: skip
    return Snapshot(header["nodeId"], MappingProxyType(resources),
                    MappingProxyType({kind: versions[kind.value] for kind in XdsType}))  # fmt: skip


def loads(data: bytes) -> Snapshot:
    """The stored snapshot `data`, equal to `Snapshot.loads(data)`, its types left in place where it can."""
    located = _located(data)
    return Snapshot.loads(data) if located is None else located
