"""Publishing: an invalid snapshot never replaces the last good one; pointers never go backwards."""

from __future__ import annotations

from typing import Any

import pytest
from meshplane.model.ids import Kind, ProxyId
from meshplane.pipeline.ports import ModuleTranslator, consistency_validator
from meshplane.pipeline.validate import default_validators, envoy_validator
from meshplane.pipeline.wiring import Collaborators
from meshplane.publication.layout import SNAPSHOT_PREFIX
from meshplane.publication.pointer import Pointer
from meshplane.snapshot.snapshot import Snapshot
from meshplane.snapshot.types import XdsType
from meshplane.store.pointers import PointerConflict
from meshplane.store.s3objects import snapshot_bucket

from . import meshes
from .conftest import World, emf_documents, make_world, metric_total, sample

FRONT = ProxyId("colors", Kind.VIRTUAL_NODE, "front")


class BreaksFront(ModuleTranslator):
    """The real translator, except that once armed it gives `front` a cluster Envoy must refuse."""

    armed = False

    def translate(self, state: Any, proxy: ProxyId, *rest: Any) -> Snapshot:
        snapshot = super().translate(state, proxy, *rest)
        if not (self.armed and proxy == FRONT):
            return snapshot
        resources = {kind: dict(snapshot.of(kind)) for kind in XdsType}
        name, cluster = sorted(resources[XdsType.CLUSTERS].items())[0]
        broken = type(cluster)()
        broken.CopyFrom(cluster)
        broken.connect_timeout.seconds = -5  # Envoy: "value must be greater than 0s"
        resources[XdsType.CLUSTERS][name] = broken
        return Snapshot.build(snapshot.node_id, resources)


def test_the_default_validators_are_the_consistency_check_and_envoy_where_it_is_installed() -> None:
    assert default_validators() == [consistency_validator, envoy_validator]
    assert default_validators(has_envoy=lambda: False) == [consistency_validator]


class Recording:
    """A validator that records the snapshots it saw, optionally skipping endpoints-only publishes like Envoy."""

    def __init__(self, *, skip_for_endpoints_only: bool) -> None:
        self.skip_for_endpoints_only = skip_for_endpoints_only
        self.seen: list[str] = []

    def __call__(self, snapshot: Snapshot) -> list[str]:
        self.seen.append(snapshot.node_id)
        return []


def test_an_endpoints_only_publish_runs_the_consistency_check_but_not_envoy(aws_env: None) -> None:
    like_envoy, like_consistency = Recording(skip_for_endpoints_only=True), Recording(skip_for_endpoints_only=False)
    world = make_world(validators=[like_consistency, like_envoy])
    meshes.colors(world)
    world.recompute()
    assert FRONT.path in like_envoy.seen and FRONT.path in like_consistency.seen
    like_envoy.seen.clear()
    like_consistency.seen.clear()
    world.announcements()

    world.ecs([sample("ecs_task_running_fargate.json")])
    world.recompute()

    assert like_consistency.seen == [FRONT.path]
    assert like_envoy.seen == []
    assert [d["changedTypes"] for d in world.announcements()] == [["endpoints"]]


def test_an_endpoints_only_snapshot_the_consistency_check_refuses_is_not_published(aws_env: None) -> None:
    world = make_world(validators=[consistency_validator, envoy_validator])
    meshes.colors(world)
    world.recompute()
    good = world.pipeline.pointers.get(FRONT.path)
    world.announcements()

    class OrphanAssignment(ModuleTranslator):
        """EDS for a cluster the carried-over CDS does not have."""

        def endpoints(self, state: Any, proxy: ProxyId, *rest: Any) -> Any:
            from envoy.config.endpoint.v3 import endpoint_pb2

            out = dict(super().endpoints(state, proxy, *rest))
            out["no-such-cluster"] = endpoint_pb2.ClusterLoadAssignment(cluster_name="no-such-cluster")
            return out

    world.pipeline.recomputer._translator = OrphanAssignment()
    world.ecs([sample("ecs_task_running_fargate.json")])
    world.recompute()

    assert world.pipeline.pointers.get(FRONT.path) == good
    assert world.announcements() == []


def test_an_invalid_snapshot_is_not_published_and_the_last_good_one_stays(aws_env: None, capsys) -> None:
    translator = BreaksFront()
    world = make_world()
    parts = world.pipeline.parts
    world.pipeline.recomputer._translator = translator
    world.pipeline.parts = Collaborators(parts.loader, parts.graph, translator, parts.validators)
    meshes.colors(world)
    world.recompute()
    good = world.pipeline.pointers.get(FRONT.path)
    assert good is not None
    world.announcements()
    objects_before = {o["Key"] for o in world.clients.s3.list_objects_v2(Bucket=world.settings.bucket)["Contents"]}
    capsys.readouterr()

    translator.armed = True
    world.put(Kind.ROUTE, "colors", "colors-route", meshes.http_route(("colors-blue", 1), ("colors-red", 1)),
              parent="colors-router")
    assert world.recompute() == {"batchItemFailures": []}

    assert world.pipeline.pointers.get(FRONT.path) == good
    objects_after = {o["Key"] for o in world.clients.s3.list_objects_v2(Bucket=world.settings.bucket)["Contents"]}
    # the body may have been written while Envoy validated; nothing names it, and no pointer moved
    assert all(key.startswith(SNAPSHOT_PREFIX) for key in objects_after - objects_before)
    assert snapshot_bucket(world.clients.s3, world.settings.bucket).pointer(FRONT).key == good.key
    assert world.announcements() == []
    rejected = [line for line in world.logs() if line.get("message") == "snapshot rejected; the last good one stays"]
    assert rejected and rejected[0]["nodeId"] == FRONT.path
    assert any("envoy rejected" in p and "Invalid duration" in p for p in rejected[0]["problems"])
    recomputed = [line for line in world.logs() if line.get("message") == "mesh recomputed"]
    assert recomputed[-1]["rejected"] == [FRONT.path]
    assert metric_total(emf_documents(capsys.readouterr().out), "SnapshotsRejected") == 1

    translator.armed = False  # the next good config is published again
    world.put(Kind.ROUTE, "colors", "colors-route", meshes.http_route(("colors-red", 1)), parent="colors-router")
    world.recompute()
    assert world.pipeline.pointers.get(FRONT.path).seq == good.seq + 1


def test_a_publisher_holding_a_stale_pointer_cannot_move_it(world: World) -> None:
    meshes.colors(world)
    world.recompute()
    stale = world.pipeline.pointers.get(FRONT.path)
    assert stale is not None
    world.pipeline.pointers.advance(stale, FRONT.path, Pointer("newer", "snapshots/newer.json"))
    with pytest.raises(PointerConflict):
        world.pipeline.pointers.advance(stale, FRONT.path, Pointer("older", "snapshots/older.json"))
    assert world.pipeline.pointers.get(FRONT.path).version == "newer"


def test_publishing_emits_emf_for_bytes_latency_and_proxies_recomputed(world: World, capsys) -> None:
    meshes.colors(world)
    capsys.readouterr()
    world.recompute()
    documents = emf_documents(capsys.readouterr().out)
    assert metric_total(documents, "ProxiesRecomputed") == 3
    assert metric_total(documents, "SnapshotsPublished") == 3
    assert metric_total(documents, "SnapshotBytes") > 1000
    declared = {m["Name"]: m["Unit"] for d in documents for block in d["_aws"]["CloudWatchMetrics"]
                for m in block["Metrics"]}
    assert declared["SnapshotBytes"] == "Bytes"
    assert declared["PublishLatency"] == "Milliseconds"
    assert declared["RecomputeLatency"] == "Milliseconds"
    assert {block["Namespace"] for d in documents for block in d["_aws"]["CloudWatchMetrics"]} == {"MeshplaneTest"}


def test_the_pointer_names_the_last_snapshot_with_other_clusters_for_reconnecting_envoys(world: World) -> None:
    import json

    from meshplane.publication.layout import pointer_key

    meshes.colors(world)
    world.recompute()
    blue = world.pipeline.pointers.get(FRONT.path)
    assert blue is not None and blue.previous_key == ""

    world.put(Kind.ROUTE, "colors", "colors-route", meshes.http_route(("colors-red", 1)), parent="colors-router")
    world.recompute()
    red = world.pipeline.pointers.get(FRONT.path)
    assert red.previous_key == blue.key, "the blue cluster left: an Envoy reconnecting may still hold it"
    doc = json.loads(world.clients.s3.get_object(Bucket=world.settings.bucket, Key=pointer_key(FRONT))["Body"].read())
    assert doc["previous"] == {"key": blue.key}

    world.put(Kind.VIRTUAL_NODE, "colors", "front", {  # only its listener changes: the clusters stay
        "listeners": [meshes.listener(9000)],
        "backends": [{"virtualService": {"virtualServiceName": "colors.local"}}],
        "logging": {"accessLog": {"file": {"path": "/dev/stdout"}}},
    })
    world.recompute()
    logged = world.pipeline.pointers.get(FRONT.path)
    assert logged.version != red.version and logged.versions["clusters"] == red.versions["clusters"]
    assert logged.previous_key == blue.key, "a change that keeps the clusters carries the older one forward"
