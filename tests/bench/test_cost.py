"""The cost model's call counting, and the call counts of the pipeline paths it found dominant.

The counting hook (`bench/callcount.py`) is checked against DynamoDB's published
capacity rules, then attached to the session of a pipeline running against moto in
process, which pins how many calls an idle reconcile pass and a route change make:
- an idle full recompute (the reconcile's sweep) rewrites no dependency-index entry;
- a reconcile pass between sweeps reads its change markers only, never a node's items;
- a route change reads the endpoints of the nodes its dependents' EDS names, not of
  every node of the mesh (before, one Query per node of the mesh per change);
- an endpoint change reads its dependents' recorded resources by key, not the mesh.
The mesh is small (a caller of each service, plus idle nodes nobody calls) so the counts
are exact and the whole module takes a few seconds.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
REGION = "us-east-1"
IDLE_NODES = 8  # nodes nobody calls: a route change must not read their endpoints


@pytest.fixture(scope="module")
def callcount() -> Iterator[ModuleType]:
    import importlib

    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("callcount")
    finally:
        sys.path.remove(str(BENCH))
        sys.modules.pop("callcount", None)


def test_item_sizes_follow_dynamodbs_rules(callcount: ModuleType) -> None:
    # names count, strings by UTF-8 bytes, numbers ~1 byte per 2 digits + 1, lists/maps 3 + 1 per element
    assert callcount.item_size({"pk": {"S": "ab"}, "n": {"N": "1234"}}) == 2 + 2 + 1 + 3
    assert callcount.item_size({"é": {"S": "é"}}) == 4
    assert callcount.item_size({"l": {"L": [{"S": "x"}, {"BOOL": True}]}}) == 1 + 3 + 2 + 2
    assert callcount.item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + 1 + 1 + 1


def test_capacity_units_round_per_item_for_gets_and_per_page_for_queries(callcount: ModuleType) -> None:
    units = callcount.dynamodb_units
    big = {"pk": {"S": "x" * 5000}}
    assert units("GetItem", {"ConsistentRead": True}, {"Item": big}) == (2.0, 0.0)
    assert units("GetItem", {}, {"Item": big}) == (1.0, 0.0)
    assert units("GetItem", {"ConsistentRead": True}, {}) == (1.0, 0.0)  # a miss still costs one
    small = [{"pk": {"S": "x" * 1000}}] * 3  # 3 KB in one page: one unit, not three
    assert units("Query", {"ConsistentRead": True}, {"Items": small}) == (1.0, 0.0)
    assert units("PutItem", {"Item": {"pk": {"S": "x" * 1100}}}, {}) == (0.0, 2.0)
    assert units("TransactWriteItems", {"TransactItems": [{"Put": {"Item": {"a": {"S": "b"}}}}, {"Update": {}}]},
                 {}) == (0.0, 4.0)


@pytest.fixture(scope="module")
def world(callcount: ModuleType) -> Iterator[dict[str, Any]]:
    """A small mesh published once through the pipeline on a counted session, moto in process."""
    import os

    import boto3
    from meshplane.config import Settings
    from meshplane.model import shapes
    from meshplane.model.ids import Kind, ResourceKey
    from meshplane.pipeline.runtime import Pipeline
    from meshplane.pipeline.telemetry import Telemetry
    from meshplane.pipeline.validate import default_validators
    from meshplane.pipeline.wiring import Clients, Collaborators
    from meshplane.store import schema
    from meshplane.store.endpoints import EndpointStore, NodeRef
    from meshplane.store.resources import ResourceStore
    from moto import mock_aws

    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION",
                                            "AWS_ENDPOINT_URL", "POWERTOOLS_TRACE_DISABLED")}
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION, "POWERTOOLS_TRACE_DISABLED": "true"})
    os.environ.pop("AWS_ENDPOINT_URL", None)
    with mock_aws():
        settings = Settings(table=f"t-{uuid.uuid4().hex[:6]}", bucket="cost-bucket", bus="cost-bus", region=REGION)
        session = boto3.session.Session(region_name=REGION)
        plain = boto3.session.Session(region_name=REGION)
        counter = callcount.CallCounter(sizer=plain.client("dynamodb"))
        counter.attach(session)
        schema.create_table(plain.client("dynamodb"), settings.table)
        plain.client("s3").create_bucket(Bucket=settings.bucket)
        plain.client("events").create_event_bus(Name=settings.bus)
        clients = Clients(dynamodb=session.client("dynamodb"), s3=session.client("s3"),
                          events=session.client("events"), ecs=session.client("ecs"),
                          servicediscovery=session.client("servicediscovery"), ec2=session.client("ec2"))
        parts = Collaborators.default(settings, clients)
        parts = Collaborators(parts.loader, parts.graph, parts.translator, default_validators(lambda: False))
        pipeline = Pipeline(settings, clients, parts, Telemetry.from_env())
        store = ResourceStore(settings.table, plain.client("dynamodb"), region=REGION)
        endpoints = EndpointStore(settings.table, plain.client("dynamodb"))

        def node(name: str, backends: list[str]) -> None:
            spec = shapes.VirtualNodeSpec.model_validate({
                "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
                "serviceDiscovery": {"awsCloudMap": {"namespaceName": "cost.local", "serviceName": name}},
                "backends": [{"virtualService": {"virtualServiceName": b}} for b in backends]})
            store.create(ResourceKey(Kind.VIRTUAL_NODE, "m", name), spec)
            endpoints.replace_cloudmap(NodeRef("m", name), [])

        store.create(ResourceKey(Kind.MESH, "m", "m"), shapes.MeshSpec())
        node("blue", [])
        node("green", [])
        node("front", ["color.cost.local"])
        for i in range(IDLE_NODES):
            node(f"idle-{i}", [])
        store.create(ResourceKey(Kind.VIRTUAL_ROUTER, "m", "color"), shapes.VirtualRouterSpec.model_validate(
            {"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]}))
        store.create(ResourceKey(Kind.ROUTE, "m", "default", "color"), route(90))
        provider = {"provider": {"virtualRouter": {"virtualRouterName": "color"}}}
        store.create(ResourceKey(Kind.VIRTUAL_SERVICE, "m", "color.cost.local"),
                     shapes.VirtualServiceSpec.model_validate(provider))
        pipeline.recomputer.recompute("m", full=True)  # the first publish
        try:
            yield {"pipeline": pipeline, "counter": counter, "store": store, "plain": plain.client("dynamodb")}
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def route(blue: int) -> Any:
    from meshplane.model import shapes

    return shapes.RouteSpec.model_validate({"httpRoute": {
        "match": {"prefix": "/"},
        "action": {"weightedTargets": [{"virtualNode": "blue", "weight": blue},
                                       {"virtualNode": "green", "weight": 100 - blue}]}}})


def test_an_idle_full_recompute_writes_nothing(world: dict[str, Any]) -> None:
    with world["counter"].counting() as tally:
        outcome = world["pipeline"].recomputer.recompute("m", full=True)
    proxies = 3 + IDLE_NODES
    assert not outcome.published
    assert tally.calls["dynamodb:PutItem"] == 0  # no index entry rewritten as it was
    assert tally.write_units == 0
    # every proxy's pointer read, in BatchGetItem calls of up to 100 keys
    assert tally.calls["dynamodb:GetItem"] == 0 and tally.calls["dynamodb:BatchGetItem"] == -(-proxies // 100)
    assert sum(tally.s3.values()) == 0 and tally.events_entries == 0


def test_a_route_change_reads_only_the_endpoints_its_dependents_use(world: dict[str, Any]) -> None:
    from meshplane.model.ids import Kind, ResourceKey

    world["store"].update(ResourceKey(Kind.ROUTE, "m", "default", "color"), route(50))
    with world["counter"].counting() as tally:
        outcome = world["pipeline"].recomputer.recompute("m", [ResourceKey(Kind.ROUTE, "m", "default", "color")])
    assert [r.proxy.name for r in outcome.published] == ["front"]
    # the index alone: no page of the mesh's items (front's part is read by key), and no node's endpoints, since the
    # route's targets (blue and green) are front's clusters already and their assignments are carried over from
    # front's last publish
    assert tally.calls["dynamodb:Query"] == 1
    # front's entry, its part of the mesh with the counters, and its pointer (batches of a few keys); the pointer
    # written; its index entry unchanged
    assert tally.calls["dynamodb:BatchGetItem"] == 3 and tally.calls["dynamodb:PutItem"] == 1
    # its last snapshot is the one this container wrote: read from memory, not S3
    assert tally.s3["PUT"] == 2 and tally.s3.get("GET", 0) == 0 and tally.events_entries == 1


def test_an_endpoint_change_reads_its_dependents_items_by_key_and_never_the_whole_mesh(
        world: dict[str, Any]) -> None:
    from meshplane.model.state import Endpoint
    from meshplane.store.endpoints import EndpointStore, NodeRef

    endpoints = EndpointStore(world["store"].table, world["plain"])
    endpoints.replace_cloudmap(NodeRef("m", "blue"), [Endpoint(instance_id="b-1", address="10.0.0.9",
                                                                source="cloudmap")])
    with world["counter"].counting() as tally:
        outcome = world["pipeline"].recomputer.recompute("m", endpoint_nodes=["blue"])
    assert [r.proxy.name for r in outcome.published] == ["front"]
    # the index and blue's endpoints: no page of the mesh's items, and no listing of the router's routes or the
    # mesh's policies, since the counters read with the dependencies show none that front's entry does not name
    assert tally.calls["dynamodb:Query"] == 1 + 1
    # front's recorded dependencies (mesh, front, its service, router, route, blue, green) with the mesh's and the
    # router's counters, then its pointer
    assert tally.calls["dynamodb:BatchGetItem"] == 2 and tally.calls["dynamodb:GetItem"] == 0


def test_a_reconcile_pass_between_sweeps_costs_six_requests_whatever_the_meshs_size(
        world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Its change markers only: the reconcile's mark (read and written), the mesh list, the mesh item and one page of
    its virtual nodes (eventually consistent), one ListOperations; no discovery call, no per-node read."""
    import dataclasses
    import json
    import time

    from meshplane.local import moto_cloudmap_operations
    from meshplane.pipeline.reconcile import MARGIN_SECONDS
    from meshplane.pipeline.reconcile_marks import MarkStore

    moto_cloudmap_operations.install()
    pipeline = world["pipeline"]
    monkeypatch.setattr(pipeline.telemetry.metrics, "namespace", "MeshplaneTest")  # the entry point flushes them
    scheduled = json.loads((ROOT / "events" / "scheduled_event.json").read_text())
    assert pipeline.reconcile(scheduled, None)["sweep"] is True
    marks = MarkStore(pipeline.clients.dynamodb, pipeline.settings.table)
    marks.put(dataclasses.replace(marks.get(), passed_at=time.time() + MARGIN_SECONDS + 1))  # a quiet minute
    with world["counter"].counting() as tally:
        summary = pipeline.reconcile(scheduled, None)
    assert summary["sweep"] is False and summary["published"] == []
    assert dict(tally.calls) == {"dynamodb:GetItem": 2, "dynamodb:Query": 2, "dynamodb:PutItem": 1,
                                 "servicediscovery:ListOperations": 1}
    assert tally.read_units < 1 + 0.5 + 1 + 3  # the mark, the mesh item, the list, a page of 11 small nodes
    # the nodes' stamps alone reach the function: their specs (most of what it would parse) stay in the table
    specs = sum(len(item["spec"]["S"]) for item in world["plain"].scan(TableName=pipeline.settings.table)["Items"]
                if item["sk"]["S"].startswith("virtualNode#") or item["sk"]["S"] == "MESH")
    assert tally.received_bytes < specs


def test_a_projected_read_is_billed_by_the_whole_items_it_read(callcount: ModuleType) -> None:
    """DynamoDB bills a projected read by the items it read, not the attributes it returned."""
    whole = {"pk": {"S": "p"}, "spec": {"S": "x" * 9000}}

    class Sizer:
        def get_item(self, **params: object) -> dict[str, object]:
            assert "ProjectionExpression" not in params and "ExpressionAttributeNames" not in params
            return {"Item": whole}

    class Model:
        name = "GetItem"

        class service_model:
            endpoint_prefix = "dynamodb"

    counter = callcount.CallCounter(sizer=Sizer())
    params = {"TableName": "t", "Key": {}, "ConsistentRead": True, "ProjectionExpression": "#n",
              "ExpressionAttributeNames": {"#n": "name"}}
    with counter.counting() as tally:
        counter._record(None, {"Item": {"pk": {"S": "p"}}}, Model, {callcount.PARAMS_KEY: params})
    assert tally.read_units == 3.0  # 9 KB read, whatever came back
    with pytest.raises(ValueError, match="sizer"):
        callcount.CallCounter()._record(None, {"Item": {}}, Model, {callcount.PARAMS_KEY: params})


def test_lambda_time_is_projected_from_cpu_and_calls_at_published_latencies(callcount: ModuleType) -> None:
    """CPU stretched to the function's vCPU share, calls on the invoking thread summed, a pool's busiest thread."""
    import importlib

    bill, world = importlib.import_module("cost_bill"), importlib.import_module("cost_world")
    try:
        tally = callcount.Tally(threads={
            "MainThread": [("dynamodb", 0.4), ("servicediscovery", 0.25)],  # 5 ms published; Cloud Map as measured
            "ThreadPoolExecutor-0_0": [("dynamodb", 1.0)] * 3, "ThreadPoolExecutor-0_1": [("dynamodb", 1.0)],
            "ThreadPoolExecutor-1_0": [("s3", 1.0)]})
        invocation = world.Invocation("reconcile", seconds=9.0, tally=tally, cpu_seconds=0.1)
        memory = importlib.import_module("cost_model").template_facts().memory_mb["reconcile"]
        expected = 0.1 * max(1.0, 1769 / memory) + 0.005 + 0.25 + 3 * 0.005 + 0.030
        assert bill.projected_seconds(invocation) == pytest.approx(expected)
    finally:
        for name in ("cost_bill", "cost_world", "cost_model", "suite_hot", "common", "targets", "meshgen"):
            sys.modules.pop(name, None)


def test_an_idle_hour_is_the_templates_schedule_over_the_two_measured_passes(callcount: ModuleType) -> None:
    """Every fifth minute re-reads every Cloud Map service (300 s), the other 48 passes check revisions only."""
    import importlib

    bill, model = importlib.import_module("cost_bill"), importlib.import_module("cost_model")
    try:
        revision = {name: 1.0 for name, _ in bill.LINES}
        full = {name: 10.0 for name, _ in bill.LINES}
        hour = bill.idle_hour(revision, full, 300)
        assert model.template_facts().reconcile_per_hour == 60
        assert hour["dynamodb_rru"] == 48 * 1.0 + 12 * 10.0
        assert hour["sqs_requests"] == 48 + 120 + model.lambda_sqs_polls_per_hour()
        assert bill.idle_hour(revision, full, 300, per_hour=4)["dynamodb_rru"] == 4 * 10.0  # each pass a full one
    finally:
        for name in ("cost_bill", "cost_model", "common"):
            sys.modules.pop(name, None)
