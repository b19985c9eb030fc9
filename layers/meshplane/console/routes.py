"""What the console relays: the App Mesh operations the page uses and the proxy reads; nothing else.

The page reads every resource, changes a route's weighted targets with `UpdateRoute`, and reads
per-proxy status and a proxy's published config (meshplane's proxy reads, `api.proxy_status`).
A narrower relay than `meshplane api-proxy` (which passes every App Mesh route) keeps a stolen
page token from deleting or creating anything: only a route's spec can change through it, and
only as the operator's own IAM policy allows.
"""

from __future__ import annotations

import re

from meshplane.api.routes import match
from meshplane.store.errors import BadRequest, Forbidden, NotFound

PREFIX = "/api"  # the page calls /api/<path>, relayed to <API URL>/<path>
READS = frozenset({
    "ListMeshes", "DescribeMesh",
    "ListVirtualNodes", "DescribeVirtualNode",
    "ListVirtualRouters", "DescribeVirtualRouter",
    "ListRoutes", "DescribeRoute",
    "ListVirtualServices", "DescribeVirtualService",
    "ListVirtualGateways", "DescribeVirtualGateway",
    "ListGatewayRoutes", "DescribeGatewayRoute",
    "ListTagsForResource",
})  # fmt: skip
WRITES = frozenset({"UpdateRoute"})
# The proxy reads the page's status client (web/src/status.ts) calls; see README "Console" for their answers.
PROXY_READS = (
    re.compile(r"^/meshplane/v1/meshes/[^/]+/proxies$"),
    re.compile(r"^/meshplane/v1/meshes/[^/]+/(virtualNodes|virtualGateways)/[^/]+/config$"),
)


def relayed_path(path: str) -> str | None:
    """The upstream path of a page request under `PREFIX`, or None when `path` is not a relay path."""
    if path.startswith(f"{PREFIX}/"):
        return path[len(PREFIX):]
    return None


def check(method: str, path: str) -> None:
    """Raises the App Mesh-shaped refusal for a request the console does not relay; returns when it does."""
    if any(segment in (".", "..") for segment in path.split("/")):
        raise BadRequest("path: '.' and '..' segments are never relayed (no App Mesh name is one)")
    if any(read.match(path) for read in PROXY_READS):
        if method != "GET":
            raise NotFound(f"{method} is not supported on the proxy reads")
        return
    operation, _ = match(method, path)  # NotFound for anything that is not an App Mesh route
    if operation.name not in READS | WRITES:
        raise Forbidden(f"the console relays App Mesh reads and UpdateRoute only, not {operation.name}")
