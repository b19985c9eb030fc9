"""Planning a change from the dependency index alone: the same plan `_resource_plan` makes, or none."""

from __future__ import annotations

from meshplane.model.ids import Kind, ProxyId, ResourceKey
from meshplane.model.policy.keys import PolicyKey
from meshplane.pipeline.recompute import index_plan
from meshplane.store.index import IndexEntry, placeholder, resource_path

ROUTER = ResourceKey(Kind.VIRTUAL_ROUTER, "m", "r")
ROUTE = ResourceKey(Kind.ROUTE, "m", "hot", "r")
OTHER_ROUTE = ResourceKey(Kind.ROUTE, "m", "new", "r")
SERVICE = ResourceKey(Kind.VIRTUAL_SERVICE, "m", "hot.local")


def node(name: str) -> ProxyId:
    return ProxyId("m", Kind.VIRTUAL_NODE, name)


def entry(name: str, *deps: ResourceKey, endpoints: tuple[str, ...] = ()) -> tuple[str, IndexEntry]:
    path = node(name).path
    return path, IndexEntry(path, frozenset(resource_path(k) for k in deps), frozenset(endpoints))


def test_a_route_change_rebuilds_the_proxies_that_read_it_and_the_eds_of_those_that_use_a_changed_node() -> None:
    entries = dict([entry("caller", SERVICE, ROUTER, ROUTE), entry("bystander", endpoints=("blue",)),
                    entry("other", endpoints=("red",))])
    plan = index_plan(entries, [ROUTE], ["blue"])
    assert plan is not None
    assert plan.full == {node("caller")}
    assert plan.endpoints_only == {node("bystander")}
    assert plan.rendered == {"blue"}


def test_a_proxy_that_lists_the_changed_place_but_never_read_the_change_takes_the_mesh() -> None:
    entries = dict([entry("caller", SERVICE, ROUTER, ROUTE)])
    assert index_plan(entries, [OTHER_ROUTE], []) is None


def test_node_gateway_mesh_and_policy_changes_and_endpoint_only_changes_take_the_mesh() -> None:
    entries = dict([entry("caller", SERVICE, ROUTER, ROUTE)])
    for key in (ResourceKey(Kind.VIRTUAL_NODE, "m", "blue"), ResourceKey(Kind.VIRTUAL_GATEWAY, "m", "gw"),
                ResourceKey(Kind.MESH, "m", "m"), PolicyKey("m", "deny-all")):
        assert index_plan(entries, [ROUTE, key], []) is None, key
    assert index_plan(entries, [], ["blue"]) is None


def test_an_index_that_knows_no_proxy_of_the_mesh_takes_the_mesh() -> None:
    assert index_plan({}, [ROUTE], []) is None


def test_a_proxy_whose_first_publish_is_still_to_come_is_rebuilt_by_any_change() -> None:
    entries = dict([entry("caller", SERVICE, ROUTER, ROUTE)])
    entries[node("new").path] = placeholder(node("new").path)
    plan = index_plan(entries, [ResourceKey(Kind.VIRTUAL_SERVICE, "m", "elsewhere.local")], [])
    assert plan is not None
    assert plan.full == {node("new")}
