"""Which virtual nodes discover a Cloud Map service: a lookup item per node, beside the mesh.

A Cloud Map event names a service, never a mesh or a node.  Without a lookup the event's
handler reads every virtual node of every mesh to find the few that discover that service:
at 10,000 nodes about ten 1 MB Query pages and 10,000 specs parsed, for each event.  With
it, one small Query per mesh names them, and one BatchGetItem reads them and their meshes.

Item: `pk = CMAP#<mesh>`, `sk = <digest of namespace and service>#<node>`, `node`.  The
digest keeps the sort key short whatever the names (each may be 1,024 characters, over
DynamoDB's limit for a sort key); a reader checks each node's spec against the service it
asked for, so a collision, or an item left over from a race, costs a read and never a
wrong answer.  The partition lies outside the table stream's filter (`MESH#`, `EP#`), so
the recompute never sees these writes.

The resource store writes the item in the same transaction as the node (`writes`).  A
mesh whose every node has its item carries `cloudMapLookup` on its `MESHES` entry: meshes
created with the lookup get it at creation, and the reconcile's sweep gives it to older
meshes once it has written their items (`backfill`).  A mesh without it is read whole, as
before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from meshplane.model import shapes
from meshplane.store import reads, schema

PARTITION_PREFIX = "CMAP#"
MARK = "cloudMapLookup"  # on a mesh's MESHES entry: every node of the mesh has its lookup item


def partition(mesh: str) -> str:
    return PARTITION_PREFIX + mesh


def service_prefix(namespace: str, service: str) -> str:
    """The sort-key prefix of every lookup item of one Cloud Map service."""
    digest = hashlib.sha256(f"{namespace}\n{service}".encode()).hexdigest()[:32]
    return f"{digest}#"


def cloud_map_of(spec: shapes.AppMeshModel | None) -> tuple[str, str] | None:
    """(namespace, service) a virtual node's spec discovers through Cloud Map, or None (for any other spec too)."""
    discovery = spec.service_discovery if isinstance(spec, shapes.VirtualNodeSpec) else None
    found = discovery.aws_cloud_map if discovery is not None else None
    return (found.namespace_name, found.service_name) if found is not None else None


def _key(mesh: str, node: str, service: tuple[str, str]) -> dict[str, Any]:
    return {"pk": {"S": partition(mesh)}, "sk": {"S": service_prefix(*service) + node}}


def _item(mesh: str, node: str, service: tuple[str, str]) -> dict[str, Any]:
    return {**_key(mesh, node, service), "node": {"S": node}}


def item_of(mesh: str, node: str, spec: shapes.AppMeshModel | None) -> dict[str, Any] | None:
    """The lookup item of a virtual node (DynamoDB's typed form), or None when it uses no Cloud Map."""
    service = cloud_map_of(spec)
    return None if service is None else _item(mesh, node, service)


def writes(table: str, mesh: str, node: str, old: shapes.AppMeshModel | None,
           new: shapes.AppMeshModel | None) -> list[dict[str, Any]]:
    """The transaction entries that move a node's lookup item from its `old` spec to its `new` one
    (None: the node did not exist, or no longer does); none when its service is the same."""
    before, after = cloud_map_of(old), cloud_map_of(new)
    if before == after:
        return []
    entries: list[dict[str, Any]] = []
    if before is not None:
        entries.append({"Delete": {"TableName": table, "Key": _key(mesh, node, before)}})
    if after is not None:
        entries.append({"Put": {"TableName": table, "Item": _item(mesh, node, after)}})
    return entries


@dataclass(frozen=True)
class ListedMesh:
    name: str
    has_lookup: bool


class CloudMapLookup:
    """Reads and backfills the lookup; the DynamoDB client is injected."""

    def __init__(self, client: Any, table: str, *, consistent: bool = True) -> None:
        self._client = client
        self._table = table
        self._consistent = consistent

    def meshes(self) -> list[ListedMesh]:
        """Every mesh of the account (its `MESHES` entry), and whether it has the lookup."""
        items = reads.query_items(self._client, TableName=self._table, KeyConditionExpression="pk = :pk",
                                  ExpressionAttributeValues={":pk": {"S": schema.MESH_LIST_PK}},
                                  ConsistentRead=self._consistent)
        return [ListedMesh(item["sk"]["S"], MARK in item) for item in items]

    def nodes_of(self, mesh: str, namespace: str, service: str) -> list[str]:
        """The nodes of `mesh` whose lookup item names the service (a node since changed may be among them)."""
        items = reads.query_items(
            self._client, TableName=self._table, ConsistentRead=self._consistent,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": partition(mesh)},
                                       ":prefix": {"S": service_prefix(namespace, service)}})
        return [item["node"]["S"] for item in items]

    def backfill(self, mesh: str, nodes: Iterable[tuple[str, shapes.VirtualNodeSpec]]) -> int:
        """Write the lookup item of each of `nodes` (every node of the mesh, as read), then mark the mesh.

        Items are only put, never deleted: a node the API changed since `nodes` were read has its
        new item from the API's own transaction, and the old one left here is filtered out by every
        reader.  Returns how many items were written."""
        items = [item for node, spec in nodes if (item := item_of(mesh, node, spec)) is not None]
        reads.batch_write(self._client, self._table, [{"PutRequest": {"Item": item}} for item in items])
        with suppress(self._client.exceptions.ConditionalCheckFailedException):  # a mesh deleted meanwhile
            self._client.update_item(
                TableName=self._table, Key={"pk": {"S": schema.MESH_LIST_PK}, "sk": {"S": mesh}},
                UpdateExpression="SET #mark = :on", ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#mark": MARK}, ExpressionAttributeValues={":on": {"BOOL": True}})
        return len(items)

