"""Per-state caches: shared by every proxy of one MeshState, never served to another state."""

from __future__ import annotations

import dataclasses
import gc
import threading
import weakref

from meshplane.graph import dependencies
from meshplane.graph.memo import per_state
from meshplane.model.ids import Kind, ProxyId, ResourceKey
from meshplane.model.state import MeshState
from support import MeshBuilder, listener, target

MESH = "memo"


def _mesh(route_name: str) -> MeshState:
    route = {"httpRoute": {"match": {"prefix": "/"}, "action": {"weightedTargets": [target("v1")]}}}
    return (
        MeshBuilder(MESH)
        .node("caller", listener(8080), backends=("api",))
        .node("v1", listener(9000))
        .service("api", router="r")
        .router("r", 9000)
        .route("r", route_name, route)
        .build()
    )


def test_a_value_is_built_once_per_state_object() -> None:
    state = _mesh("one")
    calls: list[int] = []

    def build(s: MeshState) -> int:
        calls.append(1)
        return len(s.routes)

    assert per_state(state, "count", build) == per_state(state, "count", build) == 1
    assert len(calls) == 1


def test_an_equal_but_new_state_object_gets_its_own_value() -> None:
    state = _mesh("one")
    per_state(state, "routes", lambda s: sorted(s.routes))
    changed = dataclasses.replace(state, routes={("r", "two"): next(iter(state.routes.values()))})
    assert per_state(changed, "routes", lambda s: sorted(s.routes)) == [("r", "two")]


def test_a_dead_state_never_serves_its_value_to_a_new_one_at_the_same_address() -> None:
    seen: set[int] = set()
    reused = 0
    for n in range(500):  # CPython reuses freed addresses: the identity check must catch it
        state = _mesh(f"route-{n}")
        reused += id(state) in seen
        seen.add(id(state))
        assert per_state(state, "names", lambda s: [name for _, name in s.routes]) == [f"route-{n}"]
        del state
        gc.collect()
        if reused >= 5:
            break
    assert reused >= 5  # the address really was reused, so the check above was exercised


def test_route_dependencies_follow_the_state_after_a_route_is_renamed() -> None:
    caller = ProxyId(MESH, Kind.VIRTUAL_NODE, "caller")
    first, second = _mesh("old"), _mesh("new")
    assert ResourceKey(Kind.ROUTE, MESH, "old", "r") in dependencies(first, caller)
    deps = dependencies(second, caller)
    assert ResourceKey(Kind.ROUTE, MESH, "new", "r") in deps
    assert ResourceKey(Kind.ROUTE, MESH, "old", "r") not in deps


def test_within_one_walk_a_thread_resolving_the_same_proxy_of_the_same_state_again_gets_the_walk_it_made() -> None:
    from meshplane.graph import one_walk, resolve

    state = _mesh("one")
    caller, v1 = ProxyId(MESH, Kind.VIRTUAL_NODE, "caller"), ProxyId(MESH, Kind.VIRTUAL_NODE, "v1")
    assert resolve(state, caller) is not resolve(state, caller)  # outside a walk nothing is kept
    with one_walk():
        first = resolve(state, caller)
        assert resolve(state, caller) is first  # translation, then its dependencies: one walk
        assert resolve(state, v1) is not first
        again = resolve(state, caller)
        assert again is not first and again[1].keys == first[1].keys  # only the last walk is kept
        other: list[object] = []
        worker = threading.Thread(target=lambda: other.append(resolve(state, caller)))
        worker.start()
        worker.join()
        assert other[0] is not again  # each thread its own
        assert resolve(dataclasses.replace(state), caller) is not again  # each state its own
    kept = weakref.ref(again[1])
    del first, again
    gc.collect()
    assert kept() is None  # nothing outlives the walk
