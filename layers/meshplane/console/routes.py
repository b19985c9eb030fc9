"""What the console relays: the operations the page uses, all reads but one; nothing else.

The page reads every App Mesh resource, changes a route's weighted targets with `UpdateRoute`,
and reads meshplane's own policies, rollouts (with their step history), per-proxy status and a
proxy's published config (`apiproxy.operations.MESHPLANE_READS`).  A narrower relay than
`meshplane api-proxy` (which passes every operation of the API) keeps a stolen page token from
deleting, creating or commanding anything: only a route's spec can change through it, and only
as the operator's own IAM policy allows.
"""

from __future__ import annotations

from meshplane.apiproxy.operations import MESHPLANE_READS, operation_name
from meshplane.store.errors import BadRequest, Forbidden

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
RELAYED = READS | WRITES | MESHPLANE_READS


def relayed_path(path: str) -> str | None:
    """The upstream path of a page request under `PREFIX`, or None when `path` is not a relay path."""
    if path.startswith(f"{PREFIX}/"):
        return path[len(PREFIX):]
    return None


def check(method: str, path: str) -> None:
    """Raises the App Mesh-shaped refusal for a request the console does not relay; returns when it does."""
    if any(segment in (".", "..") for segment in path.split("/")):
        raise BadRequest("path: '.' and '..' segments are never relayed (no App Mesh name is one)")
    operation = operation_name(method, path)  # NotFound for anything that is not an operation of the API
    if operation not in RELAYED:
        raise Forbidden(f"the console relays reads and UpdateRoute only, not {operation}")
