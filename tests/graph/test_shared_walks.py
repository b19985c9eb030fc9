"""A service's walk is recorded once per state and replayed for its later callers (`Resolver.service_ports`).

Every proxy resolved from a state whose walks are recorded (its callers resolved before it, in either
order) must get exactly what a fresh copy of the state gives it: the same view, the same keys read, the
same endpoint nodes and the same problems in the same order.  The mesh makes each kind of record count:
three callers of every service, a missing service, a route target that does not resolve, a mirror to a
shadow node, two policies giving one section to one backend and two to one route (conflicts), client
TLS on one caller only, a DNS backend (no endpoint node) and a gateway routing to the same service.
"""

from __future__ import annotations

import dataclasses

import pytest
from meshplane.graph import proxies, resolve
from meshplane.model.ids import ProxyId
from meshplane.model.state import MeshState
from support import MeshBuilder, listener, target
from support.policies import policy

MESH = "walks"
TLS = {"clientPolicy": {"tls": {"validation": {"trust": {"file": {"certificateChain": "/ca.pem"}}}}}}
BACKENDS = ("colors", "ghost", "dns-svc", "plain")


def _state() -> MeshState:
    mesh = MeshBuilder(MESH)
    for caller in ("a-caller", "b-caller", "c-caller"):
        mesh.node(caller, listener(7000), backends=BACKENDS)
    mesh.node("d-tls-caller", listener(7000), backends=BACKENDS, backendDefaults=TLS)
    for node in ("blue", "red", "shadow", "plain"):
        mesh.node(node, listener(8080))
    mesh.node("dns", listener(7070), serviceDiscovery={"dns": {"hostname": "dns.example.com"}})
    mesh.router("colors-router", 8080)
    mesh.route("colors-router", "split", {"httpRoute": {"match": {"prefix": "/"}, "action": {
        "weightedTargets": [target("blue", 3), target("red", 1), target("missing-node", 1)]}}})
    mesh.service("colors", router="colors-router").service("dns-svc", node="dns").service("plain", node="plain")
    mesh.gateway("edge", {"listeners": [listener(8088)]})
    mesh.gateway_route("edge", "to-colors", {"httpRoute": {"match": {"prefix": "/"}, "action": {
        "target": {"virtualService": {"virtualServiceName": "colors"}}}}})
    split = {"route": {"virtualRouterName": "colors-router", "routeName": "split"}}
    given = [
        policy(MESH, "mirror", {"targets": [split], "mirror": {"virtualNodeName": "shadow", "percent": 10}}),
        policy(MESH, "mirror-2", {"targets": [split], "mirror": {"virtualNodeName": "blue", "percent": 20}}),
        policy(MESH, "budget-1", {"targets": [{"virtualNode": {"virtualNodeName": "blue"}}],
                                  "retryBudget": {"minRetryConcurrency": 1}}),
        policy(MESH, "budget-2", {"targets": [{"virtualNode": {"virtualNodeName": "blue"}}],
                                  "retryBudget": {"minRetryConcurrency": 2}}),
    ]
    return dataclasses.replace(mesh.build(), policies={p.policy_name: p for p in given})


def _resolved(state: MeshState, proxy: ProxyId) -> tuple[object, ...]:
    view, resolver = resolve(state, proxy)
    return view, sorted(map(repr, resolver.keys)), sorted(resolver.endpoint_nodes), view.problems


@pytest.mark.parametrize("reverse", [False, True], ids=["sorted", "reversed"])
def test_every_proxy_resolves_from_recorded_walks_as_from_a_fresh_state(reverse: bool) -> None:
    state = _state()
    everyone = sorted(proxies(state), reverse=reverse)
    shared = {p: _resolved(state, p) for p in everyone}
    alone = {p: _resolved(dataclasses.replace(state), p) for p in everyone}
    assert shared == alone


def test_the_mesh_holds_what_a_replay_could_get_wrong() -> None:
    """Guards the test above: the walks read and report what it compares."""
    state = _state()
    caller = next(p for p in proxies(state) if p.name == "a-caller")
    _, _, endpoint_nodes, problems = _resolved(state, caller)
    assert any("ghost" in p for p in problems) and any("missing-node" in p for p in problems)
    assert any("budget-2" in p for p in problems) and any("mirror-2" in p for p in problems)  # the conflicts
    assert "dns" not in endpoint_nodes and {"blue", "red", "shadow", "plain"} <= set(endpoint_nodes)
