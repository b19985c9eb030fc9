"""Property: planning a resource change from the dependency index gives the plan of resolving every proxy.

`Recomputer.plan` rebuilds a proxy whose last-published dependencies meet the change
without resolving it, and resolves only the proxies that enumerated a place the change
touched (a router's routes, a gateway's routes, the policies given to a target).  The
reference below resolves every proxy on the new state, as planning did before.

Hypothesis draws a small mesh over a fixed universe of names, so references to absent
resources (a backend service not created yet, a route target, a mirror's shadow node,
a policy's target) are common; publishes every proxy of it (some are left unpublished);
then applies random creations, deletions and updates of every kind, policies included,
and random endpoint changes, and compares the two plans.
"""

from __future__ import annotations

import dataclasses
from typing import Any, cast

from hypothesis import given, settings
from hypothesis import strategies as st
from meshplane.model.ids import Kind, ProxyId, ResourceKey
from meshplane.model.policy.keys import DependencyKey, PolicyKey
from meshplane.model.state import MeshState
from meshplane.pipeline.ports import ModuleGraph
from meshplane.pipeline.recompute import Plan, Recomputer, _own_keys, touched_nodes
from meshplane.store.index import IndexEntry, resource_path
from support import MeshBuilder
from support.policies import policy

MESH = "plans"
NODES = ("n0", "n1", "n2", "n3")
SERVICES = ("s0", "s1", "s2")
ROUTERS = ("r0", "r1")
ROUTES = tuple((r, n) for r in ROUTERS for n in ("a", "b"))
GATEWAYS = ("g0",)
GATEWAY_ROUTES = (("g0", "x"), ("g0", "y"))
POLICIES = ("p0", "p1", "p2")
LISTENERS = ({"portMapping": {"port": 8080, "protocol": "http"}}, {"portMapping": {"port": 9090, "protocol": "tcp"}})

# every element of the universe: (kind, name) -> a strategy of its spec, None meaning absent
Element = tuple[str, Any]


def _node() -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(lambda listener, backends: {"listener": listener, "backends": tuple(backends)},
                     st.sampled_from(LISTENERS), st.lists(st.sampled_from(SERVICES), max_size=2, unique=True))


def _service() -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(st.builds(lambda n: {"node": n}, st.sampled_from(NODES)),
                     st.builds(lambda r: {"router": r}, st.sampled_from(ROUTERS)))


def _route() -> st.SearchStrategy[dict[str, Any]]:
    target = st.builds(lambda n, w: {"virtualNode": n, "weight": w}, st.sampled_from(NODES), st.integers(1, 3))
    return st.builds(lambda ts: {"httpRoute": {"match": {"prefix": "/"}, "action": {"weightedTargets": ts}}},
                     st.lists(target, min_size=1, max_size=2))


def _gateway_route() -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(lambda s: {"httpRoute": {"match": {"prefix": "/"}, "action": {
        "target": {"virtualService": {"virtualServiceName": s}}}}}, st.sampled_from(SERVICES))


HEADERS = {"request": {"remove": ["x-drop"]}}


def _policy() -> st.SearchStrategy[dict[str, Any]]:
    """A valid spec: targets of one kind, and sections that kind takes."""
    route = st.sampled_from(ROUTES).map(lambda r: {"route": {"virtualRouterName": r[0], "routeName": r[1]}})
    node = st.sampled_from(NODES).map(lambda n: {"virtualNode": {"virtualNodeName": n}})
    gateway_route = st.sampled_from(GATEWAY_ROUTES).map(
        lambda g: {"gatewayRoute": {"virtualGatewayName": g[0], "gatewayRouteName": g[1]}})
    mirror = st.sampled_from(NODES).map(lambda n: {"mirror": {"virtualNodeName": n}})
    def spec(targets: list[dict[str, Any]], sections: dict[str, Any]) -> dict[str, Any]:
        return {"targets": targets, **sections}

    def some(target: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[list[dict[str, Any]]]:
        return st.lists(target, min_size=1, max_size=2, unique_by=str)

    return st.one_of(
        st.builds(spec, some(route), st.one_of(mirror, st.just({"headers": HEADERS}))),
        st.builds(spec, some(node),
                  st.sampled_from([{"headers": HEADERS}, {"zoneAware": {}}, {"outlierDetection": {
                      "failurePercentage": {"threshold": 50}}}])),
        st.builds(spec, some(gateway_route), st.just({"headers": HEADERS})),
        st.just({"targets": [{"mesh": {}}], "zoneAware": {}}),
    )


UNIVERSE: dict[Element, st.SearchStrategy[Any]] = {
    **{("node", n): _node() for n in NODES},
    **{("service", s): _service() for s in SERVICES},
    **{("router", r): st.just({}) for r in ROUTERS},
    **{("route", r): _route() for r in ROUTES},
    **{("gateway", g): st.just({}) for g in GATEWAYS},
    **{("gatewayRoute", g): _gateway_route() for g in GATEWAY_ROUTES},
    **{("policy", p): _policy() for p in POLICIES},
}


def _key(element: Element) -> DependencyKey:
    kind, name = element
    if kind == "policy":
        return PolicyKey(MESH, name)
    resource = {"node": Kind.VIRTUAL_NODE, "service": Kind.VIRTUAL_SERVICE, "router": Kind.VIRTUAL_ROUTER,
                "gateway": Kind.VIRTUAL_GATEWAY, "route": Kind.ROUTE, "gatewayRoute": Kind.GATEWAY_ROUTE}[kind]
    if isinstance(name, tuple):
        return ResourceKey(resource, MESH, name[1], name[0])
    return ResourceKey(resource, MESH, name)


def _state(specs: dict[Element, Any]) -> MeshState:
    mesh = MeshBuilder(MESH)
    for (kind, name), spec in specs.items():
        if kind == "node":
            mesh.node(name, spec["listener"], backends=spec["backends"])
        elif kind == "service":
            mesh.service(name, **spec)
        elif kind == "router":
            mesh.router(name, 8080)
        elif kind == "route":
            mesh.route(name[0], name[1], spec)
        elif kind == "gateway":
            mesh.gateway(name, {"listeners": [{"portMapping": {"port": 8088, "protocol": "http"}}]})
        elif kind == "gatewayRoute":
            mesh.gateway_route(name[0], name[1], spec)
    policies = {name: policy(MESH, name, spec) for (kind, name), spec in specs.items() if kind == "policy"}
    return dataclasses.replace(mesh.build(), policies=policies)


@st.composite
def _specs(draw: st.DrawFn) -> dict[Element, Any]:
    """Each element of the universe present (with a drawn spec) or absent."""
    return {element: draw(spec) for element, spec in UNIVERSE.items() if draw(st.booleans())}


@st.composite
def _changes(draw: st.DrawFn, before: dict[Element, Any]) -> tuple[dict[Element, Any], list[DependencyKey]]:
    """Creations, deletions and updates of 1 to 4 elements, and the keys their stream records carry."""
    after = dict(before)
    touched = draw(st.lists(st.sampled_from(sorted(UNIVERSE, key=repr)), min_size=1, max_size=4, unique=True))
    for element in touched:
        if element in after and draw(st.booleans()):
            del after[element]
        else:
            after[element] = draw(UNIVERSE[element])
    return after, [_key(e) for e in touched]


def _published(graph: ModuleGraph, state: MeshState, unpublished: set[str]) -> dict[str, IndexEntry]:
    """The index entries `Recomputer.rebuild` writes for every proxy of `state` but the `unpublished`."""
    entries = {}
    for proxy in graph.proxies(state):
        if proxy.name in unpublished:
            continue
        paths, endpoint_deps = graph.dependency_paths(state, proxy)
        deps = paths | _own_keys(proxy)
        entries[proxy.path] = IndexEntry(proxy.path, frozenset(deps), frozenset(endpoint_deps))
    return entries


def _resolving_every_proxy(graph: ModuleGraph, state: MeshState, index: dict[str, IndexEntry],
                           resources: list[DependencyKey], nodes: set[str]) -> Plan:
    """The reference: every proxy resolved on the new state, its dependencies now and then against the change."""
    changed = {resource_path(k) for k in resources}
    proxies: dict[str, ProxyId] = {p.path: p for p in graph.proxies(state)}
    rebuild, eds = set(), set()
    for path, proxy in proxies.items():
        old = index.get(path)
        deps = {resource_path(k) for k in graph.dependencies(state, proxy)} | _own_keys(proxy)
        if old is None or changed & (deps | old.deps):
            rebuild.add(proxy)
        elif nodes & (graph.endpoint_dependencies(state, proxy) | old.endpoint_deps):
            eds.add(proxy)
    return Plan(frozenset(rebuild), frozenset(eds), frozenset(index.keys() - proxies.keys()))


def _planner(graph: ModuleGraph) -> Recomputer:
    """`plan` reads only the graph; the stores are never touched."""
    unused = cast(Any, None)
    return Recomputer(loader=unused, endpoints=unused, graph=graph, translator=unused, pointers=unused, index=unused,
                      publisher=unused, telemetry=unused)


@settings(max_examples=250, deadline=None)
@given(data=st.data())
def test_the_plan_from_the_index_is_the_plan_from_resolving_every_proxy(data: st.DataObject) -> None:
    graph = ModuleGraph()
    before = data.draw(_specs(), label="before")
    after, resources = data.draw(_changes(before), label="change")
    unpublished = set(data.draw(st.lists(st.sampled_from(NODES + GATEWAYS), max_size=1), label="unpublished"))
    nodes = set(data.draw(st.lists(st.sampled_from(NODES), max_size=2), label="endpoint changes"))
    index = _published(graph, _state(before), unpublished)
    state = _state(after)
    expected = _resolving_every_proxy(graph, state, index, resources, nodes)
    plan = _planner(graph).plan(state, index, resources, nodes)
    assert dataclasses.replace(plan, rendered=None) == expected
    # a resource change's full rebuilds render the assignments of the nodes it wrote or whose endpoints moved
    assert plan.rendered == (touched_nodes(resources, nodes) if resources else None)


def test_the_nodes_a_change_touched_are_those_it_wrote_and_those_whose_endpoints_moved() -> None:
    written = [ResourceKey(Kind.VIRTUAL_NODE, "m", "a"), ResourceKey(Kind.ROUTE, "m", "r", "router"),
               ResourceKey(Kind.VIRTUAL_SERVICE, "m", "a.local"), ResourceKey(Kind.VIRTUAL_GATEWAY, "m", "edge")]
    assert touched_nodes(written, ["b"]) == {"a", "b"}
    assert touched_nodes([ResourceKey(Kind.ROUTE, "m", "r", "router")], []) == frozenset()
