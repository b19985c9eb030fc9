"""The discovery directory read from the virtual nodes alone, with when each last changed.

Discovery (the Cloud Map and ECS event handlers, the reconcile) needs every virtual node
and its mesh's IP preference, never the routes, services or policies around them, so it
reads each mesh's item and its `virtualNode#` items rather than the whole partition.
`lastUpdatedAt` of each item comes along, so the reconcile can tell which nodes (or meshes)
changed since its last pass.  Specs are parsed when first needed.

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
            spec = shapes.MeshSpec.model_validate_json(mesh_item["spec"]["S"])
            preference = spec.service_discovery.ip_preference if spec.service_discovery is not None else None
            nodes.mesh_updated[mesh] = float(mesh_item["lastUpdatedAt"]["N"])
            nodes.stored += [StoredNode(NodeRef(mesh, item["name"]["S"]), item["spec"]["S"],
                                        float(item["lastUpdatedAt"]["N"]), preference)
                             for item in self._node_items(pk)]
        return nodes

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
