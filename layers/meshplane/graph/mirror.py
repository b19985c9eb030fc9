"""Resolve a route's `mirror` section to a cluster of the calling proxy.

The shadow virtual node is not a declared backend of the caller, so nothing else gives
the caller a cluster for it: resolving the mirror adds the shadow's upstream to the
proxy (with the route's client TLS policy, as for any target of the route) and records
the shadow node as a dependency, so a change to it recomputes the callers that mirror to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshplane.model.policy.mirror import Mirror

if TYPE_CHECKING:
    from meshplane.graph.build import Resolver
    from meshplane.graph.view import ClientTls, Target


def shadow_cluster(
    resolver: Resolver,
    mirror: Mirror | None,
    route: str,
    protocol: str,
    targets: tuple[Target, ...],
    tls: ClientTls | None,
) -> str | None:
    """The cluster that receives the copies; None without a mirror, or (the reason among the problems)
    when the shadow cannot take them.

    The shadow's listener speaks the route's protocol; of several, the one on the primary target's
    port is taken, else the first.
    """
    if mirror is None:
        return None
    where = f"route {route!r}: mirror to {mirror.virtual_node_name!r}"
    if protocol == "tcp":
        return _refused(resolver, f"{where}: a tcp route has no requests to mirror; not mirrored")
    node = resolver.node(mirror.virtual_node_name)
    if node is None:
        return _refused(resolver, f"{where}: the virtual node does not exist; not mirrored")
    fitting = [li for li in node.spec.listeners or () if li.port_mapping.protocol == protocol]
    if not fitting:
        return _refused(resolver, f"{where}: the virtual node has no {protocol} listener; not mirrored")
    primary_ports = {u.port for t in targets if (u := resolver.upstreams.get(t.cluster)) is not None}
    listener = next((li for li in fitting if li.port_mapping.port in primary_ports), fitting[0])
    return resolver.upstream(node, listener, tls).cluster


def _refused(resolver: Resolver, problem: str) -> str | None:
    """No cluster; the problem named once, however many router listeners serve the route."""
    resolver.problem_once(problem)
    return None
