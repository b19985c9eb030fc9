"""A rollout's weights on its route, read and written through the App Mesh `UpdateRoute` operation.

The controller and the rollout commands change a route exactly as a client's `update_route`
does (`Operations.run` with the route's whole spec, so the same rules, the same versioned store
write, the same stream and the same recompute), touching only the stable and canary weights.
"""

from __future__ import annotations

from typing import Any

from meshplane.api.operations import Operations
from meshplane.api.routes import operations
from meshplane.model.rollout.spec import RolloutSpec, TargetRef
from meshplane.model.rollout.state import Weights
from meshplane.store.errors import BadRequest, NotFound
from meshplane.store.resources import ResourceStore, describe_key

ROUTE_KINDS = ("httpRoute", "http2Route", "grpcRoute", "tcpRoute")


def weighted_targets(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The weighted targets of a route spec (its wire form), whichever protocol it routes."""
    for kind in ROUTE_KINDS:
        if spec.get(kind):
            targets: list[dict[str, Any]] = spec[kind]["action"]["weightedTargets"]
            return targets
    return []


def route_spec(store: ResourceStore, mesh: str, spec: RolloutSpec) -> dict[str, Any]:
    """The route's spec (wire form); NotFound naming `spec.route` when it is gone."""
    key = spec.route.key(mesh)
    found = store.spec(key)
    if found is None:
        raise NotFound(f"spec.route: {describe_key(key)} does not exist")
    return found.wire()


def check_targets(store: ResourceStore, mesh: str, spec: RolloutSpec) -> None:
    """Both targets must be weighted targets of the route, each exactly once."""
    targets = weighted_targets(route_spec(store, mesh, spec))
    for field, ref in (("stable", spec.stable), ("canary", spec.canary)):
        found = [t for t in targets if ref.matches(t["virtualNode"], t.get("port"))]
        if len(found) != 1:
            where = describe_key(spec.route.key(mesh))
            port = f" on port {ref.port}" if ref.port is not None else " without a port"
            raise BadRequest(f"spec.{field}: virtual node {ref.virtual_node!r}{port} is "
                             f"{'not a' if not found else 'more than one'} weighted target of {where}")


def current_weights(store: ResourceStore, mesh: str, spec: RolloutSpec) -> Weights | None:
    """The stable and canary weights on the route now; None when either target is no longer on it."""
    targets = weighted_targets(route_spec(store, mesh, spec))
    stable, canary = _weight(targets, spec.stable), _weight(targets, spec.canary)
    return None if stable is None or canary is None else Weights(stable=stable, canary=canary)


def apply(store: ResourceStore, mesh: str, spec: RolloutSpec, weights: Weights) -> bool:
    """Put `weights` on the route by `UpdateRoute`; False when it already carries them."""
    wire = route_spec(store, mesh, spec)
    targets = weighted_targets(wire)
    if _weight(targets, spec.stable) == weights.stable and _weight(targets, spec.canary) == weights.canary:
        return False
    for target in targets:
        if spec.stable.matches(target["virtualNode"], target.get("port")):
            target["weight"] = weights.stable
        elif spec.canary.matches(target["virtualNode"], target.get("port")):
            target["weight"] = weights.canary
    op = next(o for o in operations() if o.name == "UpdateRoute")
    inp = op.input_model.model_validate({"meshName": mesh, "virtualRouterName": spec.route.virtual_router_name,
                                         "routeName": spec.route.route_name, "spec": wire})
    Operations(store).run(op, inp)
    return True


def _weight(targets: list[dict[str, Any]], ref: TargetRef) -> int | None:
    for target in targets:
        if ref.matches(target["virtualNode"], target.get("port")):
            return int(target["weight"])
    return None


def target_cluster(store: ResourceStore, mesh: str, ref: TargetRef) -> str | None:
    """The callers' Envoy cluster of a weighted target (App Mesh's name, as the graph gives it); None if unresolvable.

    The target's port picks the node's listener; without one, its first listener, as the route resolves it.
    """
    from meshplane.graph import names
    from meshplane.model.ids import Kind, ResourceKey

    node = store.spec(ResourceKey(Kind.VIRTUAL_NODE, mesh, ref.virtual_node))
    listeners = [li.port_mapping for li in getattr(node, "listeners", None) or ()]
    chosen = next((pm for pm in listeners if ref.port is None or pm.port == ref.port), None)
    return None if chosen is None else names.egress_cluster(mesh, ref.virtual_node, chosen.protocol, chosen.port)
