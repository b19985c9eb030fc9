"""The discovery directory read from the virtual nodes alone, with when each last changed.

Discovery (the Cloud Map and ECS event handlers, the reconcile) needs every virtual node
and its mesh's IP preference, never the routes, services or policies around them, so it
reads each mesh's item and its `virtualNode#` items rather than the whole partition.
`lastUpdatedAt` of each item comes along, so the reconcile can tell which nodes (or meshes)
changed since its last pass.  Specs are parsed when first needed.

A Cloud Map event names one service: `NodeReader.for_cloud_map` reads only the nodes that
discover it, found through the lookup the resource store keeps beside each mesh
(`store.cloudmap_lookup`), and reads a mesh whole only while it has no lookup yet.

A reconcile pass between sweeps first reads the stamps alone (`NodeReader.stamps`: each
item's name and `lastUpdatedAt` by `ProjectionExpression`): DynamoDB bills the whole items
either way, but a 1,000-node mesh's specs are most of a megabyte that the function would
otherwise receive and parse every minute only to find nothing changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from meshplane.model import shapes
from meshplane.model.ids import Kind
from meshplane.pipeline.directory import Directory, NodeInfo
from meshplane.store import reads, schema
from meshplane.store.cloudmap_lookup import CloudMapLookup
from meshplane.store.endpoints import NodeRef


@dataclass(frozen=True)
class StoredNode:
    """A virtual node's item as read: its spec still JSON."""

    ref: NodeRef
    spec_json: str
    updated: float
    mesh_ip_preference: str | None

    def info(self) -> NodeInfo:
        return NodeInfo(self.ref, shapes.VirtualNodeSpec.model_validate_json(self.spec_json), self.mesh_ip_preference)


@dataclass
class Nodes:
    """Every virtual node, and when each node and mesh item was last written (epoch seconds)."""

    stored: list[StoredNode] = field(default_factory=list)
    mesh_updated: dict[str, float] = field(default_factory=dict)

    @cached_property
    def directory(self) -> Directory:
        return Directory.of_nodes(node.info() for node in self.stored)

    def changed_since(self, moment: float) -> list[NodeInfo]:
        """Nodes written at or after `moment`, or whose mesh was (its IP preference applies to them)."""
        return [node.info() for node in self.stored
                if node.updated >= moment or self.mesh_updated.get(node.ref.mesh, moment) >= moment]


@dataclass
class Stamps:
    """When each virtual node and mesh item was last written (epoch seconds), without the items themselves."""

    nodes: dict[NodeRef, float] = field(default_factory=dict)
    meshes: dict[str, float] = field(default_factory=dict)

    def changed_since(self, moment: float) -> list[NodeRef]:
        """Nodes written at or after `moment`, or whose mesh was (as `Nodes.changed_since`)."""
        return [ref for ref, updated in self.nodes.items()
                if updated >= moment or self.meshes.get(ref.mesh, moment) >= moment]


def _ip_preference(mesh_item: dict[str, Any]) -> str | None:
    spec = shapes.MeshSpec.model_validate_json(mesh_item["spec"]["S"])
    return spec.service_discovery.ip_preference if spec.service_discovery is not None else None


def _stored(mesh: str, item: dict[str, Any], preference: str | None) -> StoredNode:
    return StoredNode(NodeRef(mesh, item["name"]["S"]), item["spec"]["S"], float(item["lastUpdatedAt"]["N"]),
                      preference)


class NodeReader:
    """Reads `Nodes` from the state table; `consistent` picks strongly consistent reads (twice the price)."""

    def __init__(self, dynamodb: Any, table: str, *, consistent: bool = True) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._consistent = consistent

    def read(self, meshes: Iterable[str]) -> Nodes:
        nodes = Nodes()
        for mesh in meshes:
            pk = schema.mesh_pk(mesh)
            key = {"pk": {"S": pk}, "sk": {"S": schema.MESH_SK}}
            mesh_item = self._dynamodb.get_item(TableName=self._table, Key=key,
                                                ConsistentRead=self._consistent).get("Item")
            if mesh_item is None:  # deleted between list and read
                continue
            nodes.mesh_updated[mesh] = float(mesh_item["lastUpdatedAt"]["N"])
            preference = _ip_preference(mesh_item)
            nodes.stored += [_stored(mesh, item, preference) for item in self._node_items(pk)]
        return nodes

    def for_cloud_map(self, namespace: str, service: str) -> Directory:
        """The nodes that discover one Cloud Map service, in every mesh: through each mesh's lookup, one
        BatchGetItem for them and their meshes; a mesh without the lookup yet is read whole."""
        lookup = CloudMapLookup(self._dynamodb, self._table, consistent=self._consistent)
        listed = lookup.meshes()
        whole = self.read(mesh.name for mesh in listed if not mesh.has_lookup)
        named = [(mesh.name, node) for mesh in listed if mesh.has_lookup
                 for node in lookup.nodes_of(mesh.name, namespace, service)]
        stored = [*whole.stored, *self._nodes_by_key(named)]
        wanted = (namespace, service)
        return Directory.of_nodes(info for info in (node.info() for node in stored)
                                  if info.cloud_map is not None
                                  and (info.cloud_map.namespace_name, info.cloud_map.service_name) == wanted)

    def _nodes_by_key(self, named: list[tuple[str, str]]) -> list[StoredNode]:
        """The items of nodes (mesh, node) and of their meshes, read together; a node or mesh since gone is left out."""
        if not named:
            return []
        meshes = sorted({mesh for mesh, _ in named})
        keys = [{"pk": {"S": schema.mesh_pk(mesh)}, "sk": {"S": schema.MESH_SK}} for mesh in meshes]
        keys += [{"pk": {"S": schema.mesh_pk(mesh)}, "sk": {"S": schema.kind_prefix(Kind.VIRTUAL_NODE) + node}}
                 for mesh, node in dict.fromkeys(named)]
        found = {(item["pk"]["S"], item["sk"]["S"]): item
                 for item in reads.batch_get(self._dynamodb, self._table, keys, consistent=self._consistent)}
        preferences = {mesh: _ip_preference(item) for mesh in meshes
                       if (item := found.get((schema.mesh_pk(mesh), schema.MESH_SK))) is not None}
        return [_stored(mesh, item, preferences[mesh]) for mesh, node in dict.fromkeys(named)
                if mesh in preferences
                and (item := found.get((schema.mesh_pk(mesh), schema.kind_prefix(Kind.VIRTUAL_NODE) + node)))]

    def stamps(self, meshes: Iterable[str]) -> Stamps:
        """Each mesh's and virtual node's `lastUpdatedAt` alone (the same reads, projected)."""
        stamps = Stamps()
        projection = {"ProjectionExpression": "#name, lastUpdatedAt", "ExpressionAttributeNames": {"#name": "name"}}
        for mesh in meshes:
            pk = schema.mesh_pk(mesh)
            key = {"pk": {"S": pk}, "sk": {"S": schema.MESH_SK}}
            mesh_item = self._dynamodb.get_item(TableName=self._table, Key=key, ConsistentRead=self._consistent,
                                                ProjectionExpression="lastUpdatedAt").get("Item")
            if mesh_item is None:  # deleted between list and read
                continue
            stamps.meshes[mesh] = float(mesh_item["lastUpdatedAt"]["N"])
            stamps.nodes.update((NodeRef(mesh, item["name"]["S"]), float(item["lastUpdatedAt"]["N"]))
                                for item in self._node_items(pk, projection))
        return stamps

    def _node_items(self, pk: str, projection: dict[str, Any] | None = None) -> Iterable[dict[str, Any]]:
        values = {":pk": {"S": pk}, ":prefix": {"S": schema.kind_prefix(Kind.VIRTUAL_NODE)}}
        return reads.query_items(self._dynamodb, TableName=self._table, ExpressionAttributeValues=values,
                                 KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                                 ConsistentRead=self._consistent, **(projection or {}))
