"""The dependency index `IDX#<mesh>`: per proxy, what its last published snapshot was built from.

Why keep the *old* dependencies: when a route stops sending traffic to a node, the
new mesh state no longer links them, yet the proxy that used to call it must still
be recomputed to drop the cluster.  The recompute takes the union of the index
(old) and the freshly computed dependencies (new).

Item: `pk = IDX#<mesh>`, `sk = <nodePath>`, `deps` (resource paths), `endpointDeps`
(virtual node names whose endpoints the proxy's EDS uses).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from meshplane.model.ids import Kind
from meshplane.model.policy.keys import DependencyKey, PolicyKey
from meshplane.store.reads import query_items


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


def partition(mesh: str) -> str:
    return f"IDX#{mesh}"


@dataclass(frozen=True)
class IndexEntry:
    node_path: str
    deps: frozenset[str]
    endpoint_deps: frozenset[str]


class DependencyIndex:
    """Reads and writes `IDX#` items; the boto3 DynamoDB client is injected."""

    def __init__(self, table: str, client: Any) -> None:
        self._table = table
        self._client = client
        self._read: dict[str, dict[str, IndexEntry]] = {}  # mesh -> its entries as the last `entries` read them

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
            out[item["sk"]["S"]] = IndexEntry(
                node_path=item["sk"]["S"],
                deps=frozenset(v["S"] for v in item.get("deps", {}).get("L", [])),
                endpoint_deps=frozenset(v["S"] for v in item.get("endpointDeps", {}).get("L", [])),
            )
        self._read[mesh] = dict(out)
        return out

    def put(self, mesh: str, node_path: str, deps: Iterable[str], endpoint_deps: Iterable[str]) -> bool:
        """Store a proxy's dependencies; False (no write) when the last `entries` read of its mesh held exactly these.

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
        self._client.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": partition(mesh)},
                "sk": {"S": node_path},
                "deps": {"L": [{"S": d} for d in sorted(entry.deps)]},
                "endpointDeps": {"L": [{"S": n} for n in sorted(entry.endpoint_deps)]},
            },
        )
        known.pop(node_path, None)  # what was read is older than this write now
        return True

    def delete(self, mesh: str, node_path: str) -> None:
        self._client.delete_item(TableName=self._table, Key={"pk": {"S": partition(mesh)}, "sk": {"S": node_path}})
        self._read.get(mesh, {}).pop(node_path, None)
