"""A cheap, deterministic estimate of the memory a cached node holds, so the cache can be bounded in bytes.

It adds up the byte strings a node holds, each once: the packed `Any` of every resource
(for a snapshot read from the store, its stored bytes), then what streams built from them
(SotW bodies cached joined, Delta chunks and per-resource objects).  Fixed overheads per
string, per Delta resource and per node keep many tiny resources from being
underestimated (within about 15% of tracemalloc).  A sum of lengths, never a recursive
`sys.getsizeof`: the packed part is summed once per prepared view (`packed_bytes`), so a
node is measured again in time proportional to what streams built, not to its resources.
"""

from __future__ import annotations

from meshplane.delivery.prepared import PreparedSnapshot

# What a held byte string costs beyond its length (object header, its name, a dict entry), what
# a resource prepared for Delta costs beyond its chunk (its object and version), and what a node
# costs whatever its size (snapshot, view, mappings); measured with tracemalloc on CPython 3.11.
BLOB_OVERHEAD = 128
DELTA_OVERHEAD = 192
NODE_OVERHEAD = 4096


def packed_bytes(view: PreparedSnapshot) -> int:
    """The packed resources of a view: fixed once it is prepared."""
    total = 0
    for prepared in view.types.values():
        total += prepared.packed_bytes() + len(prepared.packed) * BLOB_OVERHEAD
    return total


def held_bytes(view: PreparedSnapshot, packed: int) -> int:
    """A node holding `view`, whose `packed_bytes` are `packed`, plus what streams have built from it so far."""
    total = NODE_OVERHEAD + packed
    for prepared in view.types.values():
        blobs, delta_resources = prepared.built_blobs()
        total += sum(map(len, blobs)) + len(blobs) * BLOB_OVERHEAD + delta_resources * DELTA_OVERHEAD
    return total
