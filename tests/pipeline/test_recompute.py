"""Mesh and endpoint changes, read from the table's real DynamoDB stream, recompute only affected proxies."""

from __future__ import annotations

from typing import Any

from meshplane.model.ids import Kind, ProxyId
from meshplane.pipeline.ports import ModuleTranslator
from meshplane.pipeline.wiring import Collaborators
from meshplane.snapshot.types import XdsType

from . import meshes
from .conftest import World, make_world, sample

FRONT = ProxyId("colors", Kind.VIRTUAL_NODE, "front")
BLUE = ProxyId("colors", Kind.VIRTUAL_NODE, "colors-blue")
RED = ProxyId("colors", Kind.VIRTUAL_NODE, "colors-red")
EGRESS_BLUE = "cds_egress_colors_colors-blue_http_8080"


class CountingTranslator(ModuleTranslator):
    """The real translator, counting which entry point each proxy went through."""

    def __init__(self) -> None:
        self.full: list[str] = []
        self.eds_only: list[str] = []

    def translate(self, state: Any, proxy: ProxyId, *rest: Any) -> Any:
        self.full.append(proxy.path)
        return super().translate(state, proxy, *rest)

    def endpoints(self, state: Any, proxy: ProxyId, *rest: Any) -> Any:
        self.eds_only.append(proxy.path)
        return super().endpoints(state, proxy, *rest)


def _world(translator: CountingTranslator) -> World:
    """A world whose translator is the counting spy (validators off: this is about what gets built)."""
    probe = make_world(validators=[])
    parts = probe.pipeline.parts
    probe.pipeline.parts = Collaborators(parts.loader, parts.graph, translator, [])
    probe.pipeline.recomputer._translator = translator
    return probe


def published_paths(world: World) -> set[str]:
    return {d["nodeId"] for d in world.announcements()}


def test_first_recompute_publishes_every_proxy_of_a_new_mesh(world: World) -> None:
    meshes.colors(world)
    assert world.recompute() == {"batchItemFailures": []}
    assert published_paths(world) == {FRONT.path, BLUE.path, RED.path}
    snapshot = world.snapshot(FRONT)
    assert snapshot is not None and EGRESS_BLUE in snapshot.of(XdsType.CLUSTERS)
    pointer = world.clients.s3.get_object(Bucket=world.settings.bucket, Key="pointers/colors/virtualNode/front.json")
    import json

    document = json.loads(pointer["Body"].read())
    assert document["key"] == f"snapshots/colors/virtualNode/front/{snapshot.version}.snap"
    assert document["versions"] == {k.value: v for k, v in snapshot.versions.items()}


def test_endpoint_only_change_publishes_only_new_endpoints_and_builds_nothing_else(aws_env: None) -> None:
    translator = CountingTranslator()
    world = _world(translator)
    meshes.colors(world)
    world.recompute()
    before = world.snapshot(FRONT)
    world.announcements()
    translator.full.clear()

    world.ecs([sample("ecs_task_running_fargate.json")])
    assert world.recompute() == {"batchItemFailures": []}

    after = world.snapshot(FRONT)
    assert after is not None and before is not None
    assert translator.full == []  # no listener, route or cluster was regenerated
    assert translator.eds_only == [FRONT.path]  # only the caller of colors-blue
    changed = [k for k in XdsType if after.versions[k] != before.versions[k]]
    assert changed == [XdsType.ENDPOINTS]
    for kind in (XdsType.CLUSTERS, XdsType.LISTENERS, XdsType.ROUTES, XdsType.SECRETS):
        assert after.of(kind) == before.of(kind)
    cla = after.of(XdsType.ENDPOINTS)[EGRESS_BLUE]
    address = cla.endpoints[0].lb_endpoints[0].endpoint.address.socket_address
    assert (address.address, address.port_value) == ("10.0.1.25", 8080)
    (announced,) = world.announcements()
    assert announced["nodeId"] == FRONT.path and announced["changedTypes"] == ["endpoints"]
    assert announced["versions"] == {k.value: v for k, v in after.versions.items()}

    world.ecs([sample("ecs_task_stopped_fargate.json")])
    world.recompute()
    gone = world.snapshot(FRONT)
    assert gone is not None and not gone.of(XdsType.ENDPOINTS)[EGRESS_BLUE].endpoints


def test_a_route_change_recomputes_only_the_proxies_that_use_it(aws_env: None) -> None:
    translator = CountingTranslator()
    world = _world(translator)
    meshes.colors(world)
    world.put(Kind.VIRTUAL_ROUTER, "colors", "other-router", {"listeners": [meshes.listener(8080)]})
    world.put(Kind.ROUTE, "colors", "other-route", meshes.http_route(("colors-red", 1)), parent="other-router")
    world.put(Kind.VIRTUAL_SERVICE, "colors", "other.local",
              {"provider": {"virtualRouter": {"virtualRouterName": "other-router"}}})
    world.put(Kind.VIRTUAL_NODE, "colors", "side", {
        "listeners": [meshes.listener(9100)], "backends": [{"virtualService": {"virtualServiceName": "other.local"}}]})
    world.recompute()
    world.announcements()
    side_before = world.snapshot(ProxyId("colors", Kind.VIRTUAL_NODE, "side"))
    translator.full.clear()

    world.put(Kind.ROUTE, "colors", "colors-route", meshes.http_route(("colors-blue", 1), ("colors-red", 1)),
              parent="colors-router")
    world.recompute()

    assert translator.full == [FRONT.path]
    assert published_paths(world) == {FRONT.path}
    front = world.snapshot(FRONT)
    assert front is not None and "cds_egress_colors_colors-red_http_8080" in front.of(XdsType.CLUSTERS)
    assert world.snapshot(ProxyId("colors", Kind.VIRTUAL_NODE, "side")) == side_before


def test_a_proxy_that_used_to_depend_on_a_deleted_route_still_gets_the_push_that_removes_it(world: World) -> None:
    meshes.colors(world)
    world.put(Kind.ROUTE, "colors", "api-route", meshes.http_route(("colors-red", 1), prefix="/api"),
              parent="colors-router")
    world.recompute()
    front = world.snapshot(FRONT)
    assert front is not None and "cds_egress_colors_colors-red_http_8080" in front.of(XdsType.CLUSTERS)
    world.announcements()

    world.delete(Kind.ROUTE, "colors", "api-route", parent="colors-router")
    world.recompute()

    assert published_paths(world) == {FRONT.path}
    front = world.snapshot(FRONT)
    assert front is not None and "cds_egress_colors_colors-red_http_8080" not in front.of(XdsType.CLUSTERS)


def test_the_pipelines_own_items_in_the_stream_trigger_nothing(world: World) -> None:
    meshes.colors(world)
    world.recompute()
    world.announcements()
    # The publishes above wrote pointers and index items; the stream now holds only those.
    assert world.recompute() == {"batchItemFailures": []}
    assert world.announcements() == []


class NoResolving:
    """A graph that lists proxies but refuses to resolve any: endpoint-only planning must not need it."""

    def __init__(self, proxies: list[ProxyId]) -> None:
        self._proxies = proxies

    def proxies(self, state: Any) -> list[ProxyId]:
        return self._proxies

    def dependencies(self, state: Any, proxy: ProxyId) -> Any:
        raise AssertionError(f"resolved {proxy.path} while planning an endpoint-only change")

    endpoint_dependencies = dependency_paths = dependencies


def test_an_endpoint_only_plan_takes_the_dependents_from_the_index_without_resolving_any_proxy() -> None:
    from meshplane.pipeline.recompute import Recomputer
    from meshplane.store.index import IndexEntry

    new = ProxyId("colors", Kind.VIRTUAL_NODE, "never-published")
    index = {
        FRONT.path: IndexEntry(FRONT.path, frozenset(), frozenset({"colors-blue", "colors-red"})),
        BLUE.path: IndexEntry(BLUE.path, frozenset(), frozenset()),
        RED.path: IndexEntry(RED.path, frozenset(), frozenset({"colors-blue"})),
        "mesh/colors/virtualNode/deleted": IndexEntry("mesh/colors/virtualNode/deleted", frozenset(), frozenset()),
    }
    recomputer = Recomputer(loader=None, endpoints=None, graph=NoResolving([FRONT, BLUE, RED, new]),  # type: ignore[arg-type]
                            translator=None, pointers=None, index=None, publisher=None, telemetry=None)  # type: ignore[arg-type]

    plan = recomputer.plan(None, index, [], ["colors-blue"])  # type: ignore[arg-type]

    assert plan.endpoints_only == {FRONT, RED}  # RED by its old dependencies alone
    assert plan.full == {new}  # never published: built in full
    assert plan.retired == {"mesh/colors/virtualNode/deleted"}


def _blue_assignment(world: World) -> Any:
    snapshot = world.snapshot(FRONT)
    assert snapshot is not None
    return snapshot.of(XdsType.ENDPOINTS)[EGRESS_BLUE]


def test_a_route_change_carries_the_assignments_over_and_a_node_change_renders_its_own_again(aws_env: None) -> None:
    world = make_world()
    meshes.colors(world)
    world.recompute()
    world.ecs([sample("ecs_task_running_fargate.json")])
    world.recompute()
    blue = _blue_assignment(world)
    assert blue.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address == "10.0.1.25"
    queried: list[str] = []

    def note(params: dict[str, Any], **_: Any) -> None:
        queried.append(params["ExpressionAttributeValues"][":pk"]["S"])

    world.clients.dynamodb.meta.events.register("provide-client-params.dynamodb.Query", note)
    try:
        world.put(Kind.ROUTE, "colors", "colors-route", meshes.http_route(("colors-blue", 3), ("colors-red", 1)),
                  parent="colors-router")
        assert world.recompute() == {"batchItemFailures": []}
        assert _blue_assignment(world) == blue  # front rebuilt in full, blue's instances as last published
        # blue's endpoints are not read for it; red's are, its cluster new to front
        assert [pk for pk in queried if pk.startswith("EP#")] == ["EP#colors#colors-red"]
        # blue's own change: its health check port now rides on each instance, so its assignment is rendered
        world.put(Kind.VIRTUAL_NODE, "colors", "colors-blue", {"listeners": [{
            **meshes.listener(8080), "healthCheck": {"protocol": "http", "path": "/ping", "port": 8081,
                                                     "healthyThreshold": 2, "unhealthyThreshold": 2,
                                                     "timeoutMillis": 2000, "intervalMillis": 5000}}]})
        assert world.recompute() == {"batchItemFailures": []}
    finally:
        world.clients.dynamodb.meta.events.unregister("provide-client-params.dynamodb.Query", note)
    checked = _blue_assignment(world).endpoints[0].lb_endpoints[0].endpoint.health_check_config
    assert checked.port_value == 8081
    assert "EP#colors#colors-blue" in queried
