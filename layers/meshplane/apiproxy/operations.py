"""Which API operation a request names: an App Mesh one, or one of meshplane's own beside it.

meshplane serves three APIs of its own under `/meshplane/v1/` (`api.app` routes them the same
way): the Policy API, the Rollout API and the proxy reads.  The relays (`meshplane api-proxy`,
`meshplane console`) forward a request only once it names an operation here, so a path the API
does not serve (its health check, the local stack's own endpoints) never leaves the machine.
"""

from __future__ import annotations

from meshplane.api import policy_api, rollout_api
from meshplane.api.routes import match, match_proxy_read

MESHPLANE_READS = frozenset({
    "ListProxies", "DescribeProxyConfig",
    "ListPolicies", "DescribePolicy",
    "ListRollouts", "DescribeRollout",
})  # fmt: skip
"""meshplane's own reads: what the console's page shows of the policies, the rollouts and the proxies."""


def operation_name(method: str, path: str) -> str:
    """The operation at `method path`; the API's NotFound (wrong method, or no operation there) otherwise."""
    proxy_read = match_proxy_read(method, path)
    if proxy_read is not None:
        return proxy_read[0].name
    if rollout_api.owns(path):
        return policy_api.match(method, path, rollout_api.ROUTES)[0].name
    if policy_api.owns(path):
        return policy_api.match(method, path)[0].name
    return match(method, path)[0].name
