"""The pure translator: mesh state + one proxy → that proxy's xDS snapshot."""

from __future__ import annotations

from collections.abc import Mapping

from google.protobuf.message import Message

from meshplane.graph import UnknownProxyError, resolve
from meshplane.model.ids import ProxyId
from meshplane.model.state import MeshState
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.types import XdsType
from meshplane.translate import clusters, endpoints, listeners, routes


def translate(state: MeshState, proxy: ProxyId) -> Snapshot:
    """Render `proxy`'s listeners, routes, clusters and endpoints; raises UnknownProxyError."""
    view, _ = resolve(state, proxy)
    return Snapshot.build(
        proxy.path,
        {
            XdsType.CLUSTERS: clusters.clusters(view),
            XdsType.ENDPOINTS: endpoints.endpoints(view, state.endpoints),
            XdsType.LISTENERS: listeners.listeners(view),
            XdsType.ROUTES: routes.routes(view),
        },
    )


def translate_endpoints(state: MeshState, proxy: ProxyId) -> Mapping[str, Message]:
    """Only the EDS part: the short path when nothing but discovered endpoints changed."""
    view, _ = resolve(state, proxy)
    return endpoints.endpoints(view, state.endpoints)


__all__ = ["UnknownProxyError", "translate", "translate_endpoints"]
