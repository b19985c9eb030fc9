"""What a proxy depends on, for the incremental dependency index built on top of this."""

from __future__ import annotations

from meshplane.graph.build import resolve
from meshplane.model.ids import Kind, ProxyId
from meshplane.model.policy.keys import DependencyKey
from meshplane.model.state import MeshState


def dependencies(state: MeshState, proxy: ProxyId) -> frozenset[DependencyKey]:
    """Every resource key (and policy) the proxy's config was built from, including ones that do not exist yet.

    Missing keys are included on purpose: creating the missing service must wake the proxy.
    """
    return frozenset(resolve(state, proxy)[1].keys)


def endpoint_dependencies(state: MeshState, proxy: ProxyId) -> frozenset[str]:
    """Names of the virtual nodes whose discovered endpoints this proxy's EDS carries."""
    return frozenset(resolve(state, proxy)[1].endpoint_nodes)


def proxies(state: MeshState) -> list[ProxyId]:
    """Every proxy the mesh defines: its virtual nodes and virtual gateways, sorted."""
    nodes = [ProxyId(state.name, Kind.VIRTUAL_NODE, n) for n in state.virtual_nodes]
    gateways = [ProxyId(state.name, Kind.VIRTUAL_GATEWAY, n) for n in state.virtual_gateways]
    return sorted(nodes + gateways)
