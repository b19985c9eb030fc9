"""The pure translator: mesh state + one proxy → that proxy's xDS snapshot."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping

from google.protobuf.message import Message

from meshplane.gc_pause import collector_paused
from meshplane.graph import UnknownProxyError, resolve
from meshplane.graph.view import ProxyView
from meshplane.model.ids import ProxyId
from meshplane.model.state import MeshState
from meshplane.snapshot.snapshot import PackedResources, Snapshot
from meshplane.snapshot.types import XdsType
from meshplane.translate import clusters, endpoints, listeners, routes
from meshplane.translate.cache import RenderCache, for_proxy

log = logging.getLogger(__name__)


def translate(state: MeshState, proxy: ProxyId, last_endpoints: Mapping[str, Message] | None = None,
              rendered: Collection[str] | None = None) -> Snapshot:
    """Render `proxy`'s listeners, routes, clusters and endpoints; raises UnknownProxyError.

    With `last_endpoints` (the assignments last published for `proxy`) and `rendered` (the virtual
    nodes whose spec or endpoints changed since), the assignments of every other node that
    `last_endpoints` holds are carried over and their endpoints never read, as `translate_endpoints`
    does for an endpoint change: a change that rebuilds many proxies in full (a route every node
    calls) then reads only the endpoints of the nodes it touched."""
    with collector_paused():
        return _translate(state, proxy, last_endpoints, rendered)


def _translate(state: MeshState, proxy: ProxyId, last_endpoints: Mapping[str, Message] | None,
               rendered: Collection[str] | None) -> Snapshot:
    view, resolver = resolve(state, proxy)
    if view.problems:  # the proxy still gets what can be built; the operator learns what could not
        log.warning(
            "mesh problems for %s: %s",
            proxy.path,
            "; ".join(view.problems),
            extra={"nodeId": proxy.path, "problems": list(view.problems)},
        )
    cache = for_proxy(state, resolver.first_of_state)
    resources: dict[XdsType, Mapping[str, Message]] = {
        XdsType.CLUSTERS: clusters.clusters(view, cache),
        XdsType.ENDPOINTS: _assignments(view, state, cache, last_endpoints, rendered),
        XdsType.LISTENERS: listeners.listeners(view, cache),
        XdsType.ROUTES: routes.routes(view, cache),
    }
    return Snapshot.build(proxy.path, resources, {XdsType.LISTENERS: cache.serialised(resources[XdsType.LISTENERS])})


def translate_endpoints(state: MeshState, proxy: ProxyId, last: Mapping[str, Message] | None = None,
                        changed: Collection[str] | None = None) -> Mapping[str, Message]:
    """Only the EDS part: the short path when nothing but discovered endpoints changed.

    With `last` (the assignments last published for `proxy`) and `changed` (the nodes whose
    endpoints changed since), only the assignments of changed nodes, and those `last` lacks,
    are rendered; the others are `last`'s, and their nodes' endpoints are never read.  That
    equals the full render when `last` holds every other node's current endpoints, which the
    pointer's conditional advance keeps true: each endpoint change re-renders its node on top
    of the latest publish."""
    view, resolver = resolve(state, proxy)
    return _assignments(view, state, for_proxy(state, resolver.first_of_state), last, changed)


def _assignments(view: ProxyView, state: MeshState, cache: RenderCache, last: Mapping[str, Message] | None,
                 changed: Collection[str] | None) -> PackedResources:
    """The view's assignments: all rendered, or with `last` and `changed` those of unchanged nodes carried."""
    if last is None or changed is None:
        return endpoints.endpoints(view, state.endpoints, cache)
    sources = endpoints.sources(view)
    stale = {node for cluster, node in sources.items() if node in changed or cluster not in last}
    fresh = endpoints.endpoints(view, state.endpoints, cache, stale)
    kept = last if isinstance(last, PackedResources) else None
    parts: dict[str, Message | bytes] = {}
    for cluster in sources:
        if cluster in fresh:
            parts[cluster] = fresh.body(cluster)
        elif kept is not None:  # carried as the bytes it was published with, never parsed
            parts[cluster] = kept.body(cluster)
        else:
            parts[cluster] = last[cluster]
    return PackedResources.of_parts(XdsType.ENDPOINTS, parts)


def problems(state: MeshState, proxy: ProxyId) -> tuple[str, ...]:
    """What the mesh asks of `proxy` that cannot be rendered (missing targets, port clashes)."""
    return resolve(state, proxy)[0].problems


__all__ = ["UnknownProxyError", "problems", "translate", "translate_endpoints"]
