"""Every virtual node of every mesh, looked up the ways discovery events name them.

Built once per invocation from the virtual nodes (`node_directory`): events name a Cloud Map
service or an ECS service, never a mesh, so discovery needs the reverse lookups.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from meshplane.model import shapes
from meshplane.store.endpoints import NodeRef


@dataclass(frozen=True)
class NodeInfo:
    ref: NodeRef
    spec: shapes.VirtualNodeSpec
    mesh_ip_preference: str | None = None

    @property
    def listener_ports(self) -> tuple[int, ...]:
        return tuple(listener.port_mapping.port for listener in self.spec.listeners or ())

    @property
    def cloud_map(self) -> shapes.AwsCloudMapServiceDiscovery | None:
        discovery = self.spec.service_discovery
        return discovery.aws_cloud_map if discovery is not None else None


@dataclass
class Directory:
    nodes: dict[NodeRef, NodeInfo] = field(default_factory=dict)
    _by_cloud_map: dict[tuple[str, str], list[NodeInfo]] = field(default_factory=lambda: defaultdict(list))
    _by_name: dict[str, list[NodeInfo]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def of_nodes(cls, entries: Iterable[NodeInfo]) -> Directory:
        directory = cls()
        for info in entries:
            directory.nodes[info.ref] = info
            directory._by_name[info.ref.node].append(info)
            if info.cloud_map is not None:
                directory._by_cloud_map[(info.cloud_map.namespace_name, info.cloud_map.service_name)].append(info)
        return directory

    def by_cloud_map(self, namespace: str, service: str) -> list[NodeInfo]:
        return list(self._by_cloud_map.get((namespace, service), ()))

    def by_name(self, name: str) -> list[NodeInfo]:
        return list(self._by_name.get(name, ()))

    def get(self, ref: NodeRef) -> NodeInfo | None:
        return self.nodes.get(ref)

    def get_by(self, mesh: str, node: str) -> NodeInfo | None:
        return self.nodes.get(NodeRef(mesh, node))

    def cloud_map_nodes(self) -> list[NodeInfo]:
        return [info for info in self.nodes.values() if info.cloud_map is not None]
