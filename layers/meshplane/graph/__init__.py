"""The resolved, Envoy-free per-proxy view of a mesh, and what each proxy depends on."""

from meshplane.graph.build import UnknownProxyError, one_walk, resolve
from meshplane.graph.deps import dependencies, endpoint_dependencies, proxies
from meshplane.graph.view import ProxyView

__all__ = ["ProxyView", "UnknownProxyError", "dependencies", "endpoint_dependencies", "one_walk", "proxies",
           "resolve"]
