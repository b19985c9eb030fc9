"""The dependency index `IDX#<mesh>`: per proxy, what its last published snapshot was built from.

Why keep the *old* dependencies: when a route stops sending traffic to a node, the
new mesh state no longer links them, yet the proxy that used to call it must still
be recomputed to drop the cluster.  The recompute takes the union of the index
(old) and the freshly computed dependencies (new).

Item: `pk = IDX#<mesh>`, `sk = <nodePath>`, `deps` (resource paths), `endpointDeps`
(virtual node names whose endpoints the proxy's EDS uses), each written as its sorted
names, one a line, deflated (binary): an entry's paths repeat the same few prefixes, so
an item takes about a quarter of the space of a list of strings, and the whole index,
which every recompute reads, that many fewer 1 MB Query pages.  Items holding lists of
strings are read as well.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from meshplane.model.ids import Kind
from meshplane.model.policy.keys import DependencyKey, PolicyKey
from meshplane.store.memo import BoundedMemo
from meshplane.store.reads import batch_get, batch_write, query_items


def resource_path(key: DependencyKey) -> str:
    """The `mesh/<m>/...` path of a resource key (the inverse of `ResourceKey.from_path`), or of a policy."""
    if isinstance(key, PolicyKey):
        return key.path
    path = f"mesh/{key.mesh}"
    if key.kind is Kind.MESH:
        return path
    if key.kind.parent_kind is not None:
        path += f"/{key.kind.parent_kind.value}/{key.parent}"
    return f"{path}/{key.kind.value}/{key.name}"


def item_of_entry(mesh: str, entry: IndexEntry) -> dict[str, Any]:
    """An entry as its `IDX#` item (DynamoDB's typed attribute values), the inverse of `entry_of_item`."""
    return {
        "pk": {"S": partition(mesh)},
        "sk": {"S": entry.node_path},
        "deps": {"B": _packed(entry.deps)},
        "endpointDeps": {"B": _packed(entry.endpoint_deps)},
    }


def _packed(names: Iterable[str]) -> bytes:
    return zlib.compress("\n".join(sorted(names)).encode(), 9)


def _names(value: Mapping[str, Any] | None) -> frozenset[str]:
    """An item's set of names, deflated (`_packed`) or as a list of strings."""
    if not value:
        return frozenset()
    if "B" in value:
        text = zlib.decompress(bytes(value["B"])).decode()
        return frozenset(text.split("\n")) if text else frozenset()
    return frozenset(v["S"] for v in value.get("L", []))


def entry_of_item(item: Mapping[str, Any]) -> IndexEntry:
    """The entry an `IDX#` item holds (DynamoDB's typed attribute values, as the low-level client returns them)."""
    return IndexEntry(item["sk"]["S"], _names(item.get("deps")), _names(item.get("endpointDeps")))


def partition(mesh: str) -> str:
    return f"IDX#{mesh}"


# The one dependency of a proxy the index knows but that was never published (no resource path looks like it):
# a change planned from the index alone rebuilds it whatever the change (`pipeline.recompute.index_plan`).
UNPUBLISHED = "?unpublished"


@dataclass(frozen=True)
class IndexEntry:
    node_path: str
    deps: frozenset[str]
    endpoint_deps: frozenset[str]

    @property
    def published(self) -> bool:
        """False for the placeholder of a proxy whose first publish is still to come (`placeholder`)."""
        return UNPUBLISHED not in self.deps


def placeholder(node_path: str) -> IndexEntry:
    """The placeholder entry of a proxy a change is about to build for the first time."""
    return IndexEntry(node_path, frozenset({UNPUBLISHED}), frozenset())


PARSED_LIMIT = 100_000  # entries a warm container keeps parsed; a 10,000-node mesh has 10,000


class ParsedEntries:
    """`entry_of_item` memoised on the item's stored form, per warm container.

    Why: a hot change's recompute reads the whole index (4 Query pages at 10,000 nodes), and
    inflating and splitting every entry again is about a third of the client's CPU for it.
    The key is the stored form itself (name and both deflated sets), so an entry written since
    is parsed again and nothing stale is served; items of lists of strings are not kept."""

    def __init__(self, limit: int = PARSED_LIMIT) -> None:
        self._memo: BoundedMemo[tuple[str, bytes, bytes], IndexEntry] = BoundedMemo(limit)

    def entry(self, item: Mapping[str, Any]) -> IndexEntry:
        deps, endpoint_deps = item.get("deps") or {}, item.get("endpointDeps") or {}
        if "L" in deps or "L" in endpoint_deps:
            return entry_of_item(item)
        key = (item["sk"]["S"], bytes(deps.get("B", b"")), bytes(endpoint_deps.get("B", b"")))
        return self._memo.get(key, lambda: entry_of_item(item))


class DependencyIndex:
    """Reads and writes `IDX#` items; the boto3 DynamoDB client is injected."""

    def __init__(self, table: str, client: Any) -> None:
        self._table = table
        self._client = client
        self._read: dict[str, dict[str, IndexEntry]] = {}  # mesh -> its entries as the last `entries` read them
        self.parsed = ParsedEntries()

    def entries(self, mesh: str) -> dict[str, IndexEntry]:
        """Every proxy of the mesh that was ever published, by node path."""
        out: dict[str, IndexEntry] = {}
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": partition(mesh)}},
            "ConsistentRead": True,
        }
        for item in query_items(self._client, **kwargs):
            entry = self.parsed.entry(item)
            out[entry.node_path] = entry
        self._read[mesh] = dict(out)
        return out

    def entries_of(self, mesh: str, node_paths: Iterable[str]) -> dict[str, IndexEntry]:
        """The entries of some proxies (BatchGetItem, strongly consistent), by node path; one never written is absent.

        Remembered for those proxies as `entries` remembers the whole mesh's, so a shard that rebuilds
        them as they were writes no entry (a sweep's shards would rewrite every entry of the mesh)."""
        paths = list(dict.fromkeys(node_paths))
        keys = [{"pk": {"S": partition(mesh)}, "sk": {"S": path}} for path in paths]
        found = {entry.node_path: entry for entry in map(self.parsed.entry, batch_get(self._client, self._table, keys))}
        known = self._read.setdefault(mesh, {})
        for path in paths:
            if path in found:
                known[path] = found[path]
            else:
                known.pop(path, None)
        return found

    def put(self, mesh: str, node_path: str, deps: Iterable[str], endpoint_deps: Iterable[str]) -> bool:
        """Store a proxy's dependencies; False (no write) when the last read of it (`entries`, `entries_of`) held these.

        Why skip: every reconcile pass rebuilds every proxy and, when nothing changed, would
        rewrite every entry as it was, a billed write per proxy per pass.  The comparison is
        with what the recompute itself read before rebuilding (`Recomputer.recompute` reads
        the entries in every round), never with an earlier write, so an entry is written
        whenever it differs from the item as last read.
        """
        entry = IndexEntry(node_path, frozenset(deps), frozenset(endpoint_deps))
        known = self._read.setdefault(mesh, {})
        if known.get(node_path) == entry:
            return False
        self._client.put_item(TableName=self._table, Item=item_of_entry(mesh, entry))
        known.pop(node_path, None)  # what was read is older than this write now
        return True

    def put_many(self, mesh: str, entries: Sequence[IndexEntry]) -> None:
        """Store several proxies' dependencies in BatchWriteItem calls of 25: one request where `put` makes 25.

        Items DynamoDB hands back unprocessed (throttling) are sent again after a jittered
        backoff; TooManyRequests when some are still left after `MAX_BATCH_ATTEMPTS` calls.
        """
        known = self._read.setdefault(mesh, {})
        latest = {entry.node_path: entry for entry in entries}  # one request may not name an item twice
        requests = [{"PutRequest": {"Item": item_of_entry(mesh, entry)}} for entry in latest.values()]
        batch_write(self._client, self._table, requests)
        for path in latest:
            known.pop(path, None)

    def delete(self, mesh: str, node_path: str) -> None:
        self._client.delete_item(TableName=self._table, Key={"pk": {"S": partition(mesh)}, "sk": {"S": node_path}})
        self._read.get(mesh, {}).pop(node_path, None)
