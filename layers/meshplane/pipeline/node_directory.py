"""The discovery directory read from the virtual nodes alone, with when each last changed.

Discovery (the Cloud Map and ECS event handlers, the reconcile) needs every virtual node
and its mesh's IP preference, never the routes, services or policies around them, so it
reads each mesh's item and its `virtualNode#` items rather than the whole partition: at
1,000 nodes that is a fraction of the mesh's pages.  `lastUpdatedAt` of each item comes
along, so the reconcile can tell which nodes (or meshes) changed since its last pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from meshplane.model import shapes
from meshplane.model.ids import Kind
from meshplane.pipeline.directory import Directory, NodeInfo
from meshplane.store import reads, schema
from meshplane.store.endpoints import NodeRef


@dataclass
class Nodes:
    """Every virtual node as a `Directory`, and when each node and mesh item was last written (epoch seconds)."""

    directory: Directory = field(default_factory=Directory)
    node_updated: dict[NodeRef, float] = field(default_factory=dict)
    mesh_updated: dict[str, float] = field(default_factory=dict)

    def changed_since(self, moment: float) -> list[NodeInfo]:
        """Nodes written at or after `moment`, or whose mesh was (its IP preference applies to them)."""
        return [info for ref, info in self.directory.nodes.items()
                if self.node_updated.get(ref, moment) >= moment or self.mesh_updated.get(ref.mesh, moment) >= moment]


class NodeReader:
    """Reads `Nodes` from the state table; `consistent` picks strongly consistent reads (twice the price)."""

    def __init__(self, dynamodb: Any, table: str, *, consistent: bool = True) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._consistent = consistent

    def read(self, meshes: Iterable[str]) -> Nodes:
        nodes = Nodes()
        entries = []
        for mesh in meshes:
            found = self._mesh(mesh)
            if found is None:  # deleted between list and read
                continue
            mesh_item, node_items = found
            mesh_data = schema.data_of_item(mesh_item)
            assert isinstance(mesh_data, shapes.MeshData)
            discovery = mesh_data.spec.service_discovery
            preference = discovery.ip_preference if discovery is not None else None
            nodes.mesh_updated[mesh] = float(mesh_item["lastUpdatedAt"])
            for item in node_items:
                ref = NodeRef(mesh, str(item["name"]))
                data = schema.data_of_item(item)
                assert isinstance(data, shapes.VirtualNodeData)
                entries.append(NodeInfo(ref, data.spec, preference))
                nodes.node_updated[ref] = float(item["lastUpdatedAt"])
        nodes.directory = Directory.of_nodes(entries)
        return nodes

    def _mesh(self, mesh: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        pk = schema.mesh_pk(mesh)
        response = self._dynamodb.get_item(TableName=self._table, Key=_key(pk, schema.MESH_SK),
                                            ConsistentRead=self._consistent)
        if "Item" not in response:
            return None
        values = {":pk": {"S": pk}, ":prefix": {"S": schema.kind_prefix(Kind.VIRTUAL_NODE)}}
        request = {"TableName": self._table, "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
                   "ExpressionAttributeValues": values, "ConsistentRead": self._consistent}
        return _plain(response["Item"]), [_plain(i) for i in reads.query_items(self._dynamodb, **request)]


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    deserialize = schema.deserializer().deserialize
    return {name: deserialize(value) for name, value in item.items()}
