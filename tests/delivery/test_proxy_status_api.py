"""The API's proxy reads (`api.proxy_status`) over a moto table: pages, summaries, staleness, errors, IAM checks."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import pytest
from meshplane.api.app import Api
from meshplane.api.permissions import Check
from meshplane.model.ids import ProxyId
from meshplane.publication.pointer import Pointer
from meshplane.store import ResourceStore, create_table
from meshplane.store.errors import Forbidden
from meshplane.store.pointers import PointerStore
from meshplane.store.proxy_status import STALE_SECONDS, EnvoyStatus, Nack, ProxyStatusStore, partition, to_item
from meshplane.store.s3objects import snapshot_bucket

from .harness import Aws
from .snapshots import snapshot

pytestmark = pytest.mark.xdist_group("proxy-status-api")


class Refusing:
    """An authorizer that records the checks it is asked and refuses those on `refused` ARNs."""

    def __init__(self) -> None:
        self.asked: list[Check] = []
        self.refused: set[str] = set()

    def authorize(self, event: Any, operation: str, inp: Any) -> None:
        """The App Mesh calls that set the tests up: allowed."""

    def authorize_checks(self, event: Any, found: Sequence[Check]) -> None:
        for check in found:
            self.asked.append(check)
            if check.resource in self.refused:
                raise Forbidden(f"not authorized to perform: {check.action} on resource: {check.resource}")


class Stack:
    def __init__(self, aws: Aws) -> None:
        self.table = f"status-api-{uuid.uuid4().hex[:8]}"
        dynamodb = aws.client("dynamodb")
        create_table(dynamodb, self.table)
        self.authorizer = Refusing()
        self.bucket = snapshot_bucket(aws.client("s3"), aws.bucket)
        self.api = Api(ResourceStore(self.table, dynamodb, region="us-east-1"), authorizer=self.authorizer,  # type: ignore[arg-type]
                       snapshots=lambda: self.bucket)  # fmt: skip
        self.dynamodb = dynamodb
        self.statuses = ProxyStatusStore(self.table, dynamodb)
        self.pointers = PointerStore(self.table, dynamodb)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None,
             query: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:  # fmt: skip
        event = {"httpMethod": method, "path": path, "body": None if body is None else json.dumps(body),
                 "queryStringParameters": query, "requestContext": {}}  # fmt: skip
        response = self.api.handle(event)
        return response["statusCode"], json.loads(response["body"])

    def mesh(self, *nodes: str, gateways: Sequence[str] = ()) -> str:
        name = f"m-{uuid.uuid4().hex[:8]}"
        assert self.call("PUT", "/v20190125/meshes", {"meshName": name})[0] == 200
        for node in nodes:
            created = self.call("PUT", f"/v20190125/meshes/{name}/virtualNodes", {"virtualNodeName": node, "spec": {}})
            assert created[0] == 200
        for gateway in gateways:
            spec = {"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]}
            assert self.call("PUT", f"/v20190125/meshes/{name}/virtualGateways",
                             {"virtualGatewayName": gateway, "spec": spec})[0] == 200  # fmt: skip
        return name


@pytest.fixture(scope="module")
def stack(moto_endpoint: str) -> Iterator[Stack]:
    yield Stack(Aws(moto_endpoint).create())


def envoy(mesh: str, node: str, instance: str, **changes: Any) -> EnvoyStatus:
    proxy = ProxyId.parse(f"mesh/{mesh}/virtualNode/{node}")
    now = time.time()
    return replace(EnvoyStatus(proxy, proxy.path, instance, f"c-{instance}", "ads", "ipv4:10.0.0.1:1", True, now, now),
                   **changes)  # fmt: skip


def test_every_proxy_is_listed_with_its_latest_version_and_each_envoy_with_its_state(stack: Stack) -> None:
    mesh = stack.mesh("a", "b", "c", gateways=("gw",))
    stack.pointers.advance(None, f"mesh/{mesh}/virtualNode/a", Pointer("va", "k", versions={"clusters": "ca"}))
    stack.pointers.advance(None, f"mesh/{mesh}/virtualNode/b", Pointer("vb", "k"))
    rejected = Nack("type.googleapis.com/envoy.config.cluster.v3.Cluster", "cb2", "bad cluster x", ("x",), 1.0)
    stack.statuses.put([
        envoy(mesh, "a", "a-1", applied="va", acked={"clusters": "ca"}),
        envoy(mesh, "a", "a-2", applied="old"),
        envoy(mesh, "b", "b-1", applied="vb", nack=rejected),
        envoy(mesh, "b", "b-2", applied="vb", seen=time.time() - STALE_SECONDS - 1),  # its server died
    ])  # fmt: skip
    status, body = stack.call("GET", f"/meshplane/v1/meshes/{mesh}/proxies")
    assert status == 200, body
    nodes = {n["name"]: n for n in body["nodes"]}
    assert [n["nodeId"] for n in body["nodes"]] == [f"mesh/{mesh}/virtualGateway/gw"] + [
        f"mesh/{mesh}/virtualNode/{n}" for n in "abc"]
    assert {k: (n["sync"], n["latestVersion"], n["envoys"], n["connected"]) for k, n in nodes.items()} == {
        "gw": ("unpublished", None, 0, 0), "a": ("behind", "va", 2, 2), "b": ("nack", "vb", 2, 1),
        "c": ("unpublished", None, 0, 0)}
    rows = {r["instance"]: r for r in body["proxies"]}
    assert (rows["a-1"]["sync"], rows["a-1"]["ackedVersions"], rows["a-2"]["sync"]) == ("in-sync", {"clusters": "ca"},
                                                                                       "behind")
    assert rows["b-1"]["nack"] | {"message": "bad cluster x", "resourceNames": ["x"]} == rows["b-1"]["nack"]
    assert (rows["b-2"]["connected"], rows["b-2"]["sync"]) == (False, "disconnected")
    assert body["nextToken"] is None
    assert stack.authorizer.asked[-1].action == "meshplane:ListProxies"
    assert stack.authorizer.asked[-1].resource == f"arn:aws:appmesh:us-east-1:123456789012:mesh/{mesh}"


def test_pages_follow_the_node_order_and_expired_items_are_skipped(stack: Stack) -> None:
    mesh = stack.mesh("a", "b", "c")
    stack.statuses.put([envoy(mesh, "b", "b-1"), envoy(mesh, "c", "gone", connected=False, seen=1.0)])
    status, first = stack.call("GET", f"/meshplane/v1/meshes/{mesh}/proxies", query={"limit": "2"})
    assert status == 200 and [n["name"] for n in first["nodes"]] == ["a", "b"] and first["nextToken"]
    assert [r["instance"] for r in first["proxies"]] == ["b-1"]
    _, second = stack.call("GET", f"/meshplane/v1/meshes/{mesh}/proxies",
                           query={"limit": "2", "nextToken": first["nextToken"]})  # fmt: skip
    assert [n["name"] for n in second["nodes"]] == ["c"] and second["nextToken"] is None
    assert second["proxies"] == [], "an item past its expiresAt counts as deleted"


def test_an_item_in_a_proxys_partition_counts_only_as_that_proxys_own_envoy(stack: Stack) -> None:
    """A file agent's role may write any values into its own proxy's partition (`bootstrap.iam_policy`): an item
    there naming another proxy does not make that proxy's Envoy, and a malformed one is skipped, not a 500."""
    mesh = stack.mesh("a", "b")
    posing = to_item(envoy(mesh, "b", "b-1"))
    posing["pk"] = {"S": partition(ProxyId.parse(f"mesh/{mesh}/virtualNode/a"))}
    broken = {"pk": posing["pk"], "sk": {"S": "broken"}, "nodeId": {"S": f"mesh/{mesh}/virtualNode/a"}}
    for item in (posing, broken):
        stack.dynamodb.put_item(TableName=stack.table, Item=item)
    stack.statuses.put([envoy(mesh, "a", "a-1")])
    status, body = stack.call("GET", f"/meshplane/v1/meshes/{mesh}/proxies")
    assert status == 200, body
    assert [(r["nodeId"], r["instance"]) for r in body["proxies"]] == [(f"mesh/{mesh}/virtualNode/a", "a-1")]
    assert [(n["name"], n["envoys"]) for n in body["nodes"]] == [("a", 1), ("b", 0)]


def test_a_page_can_end_on_a_gateway_and_the_next_start_with_the_nodes(stack: Stack) -> None:
    mesh = stack.mesh("a", gateways=("gw",))
    pages, token = [], None
    while True:
        query = {"limit": "1", **({"nextToken": token} if token else {})}
        status, body = stack.call("GET", f"/meshplane/v1/meshes/{mesh}/proxies", query=query)
        assert status == 200, body
        pages.append([n["nodeId"] for n in body["nodes"]])
        token = body["nextToken"]
        if token is None:
            break
    assert pages == [[f"mesh/{mesh}/virtualGateway/gw"], [f"mesh/{mesh}/virtualNode/a"]]


@pytest.mark.parametrize(("query", "field"), [({"limit": "0"}, "limit"), ({"limit": "x"}, "limit"),
                                              ({"nextToken": "!!"}, "nextToken")])  # fmt: skip
def test_a_bad_page_request_is_a_bad_request_naming_the_field(stack: Stack, query: dict[str, str],
                                                               field: str) -> None:  # fmt: skip
    mesh = stack.mesh("a")
    status, body = stack.call("GET", f"/meshplane/v1/meshes/{mesh}/proxies", query=query)
    assert status == 400 and body["message"].startswith(f"{field}:"), body


def test_an_unknown_mesh_a_wrong_method_and_a_refused_caller_get_app_mesh_errors(stack: Stack) -> None:
    assert stack.call("GET", "/meshplane/v1/meshes/nope/proxies")[0] == 404
    assert stack.call("DELETE", "/meshplane/v1/meshes/nope/proxies")[0] == 404
    mesh = stack.mesh("a")
    stack.authorizer.refused.add(f"arn:aws:appmesh:us-east-1:123456789012:mesh/{mesh}/virtualNode/a")
    status, body = stack.call("GET", f"/meshplane/v1/meshes/{mesh}/virtualNodes/a/config")
    assert status == 403 and "meshplane:DescribeProxyConfig" in body["message"]


def test_a_proxys_published_config_is_its_envoy_json_with_key_material_redacted(stack: Stack) -> None:
    mesh = stack.mesh("a", "b")
    published = snapshot(f"mesh/{mesh}/virtualNode/a", "a")
    proxy = ProxyId.parse(published.node_id)
    stack.pointers.advance(None, proxy.path, stack.bucket.put(proxy, published, None, advance=lambda p: p,
                                                              announce=lambda _e: None).pointer)  # fmt: skip
    status, body = stack.call("GET", f"/meshplane/v1/meshes/{mesh}/virtualNodes/a/config")
    assert status == 200, body
    assert body["version"] == published.version and sorted(body["config"]["clusters"]) == ["cds_a_1", "cds_a_2"]
    assert "PRIVATE KEY" not in json.dumps(body)
    assert body["config"]["secrets"]["secret_a"]["tlsCertificate"]["privateKey"] == "[redacted by meshplane]"
    status, body = stack.call("GET", f"/meshplane/v1/meshes/{mesh}/virtualNodes/b/config")
    assert status == 404 and "nothing is published" in body["message"]
    assert stack.call("GET", f"/meshplane/v1/meshes/{mesh}/virtualNodes/zz/config")[0] == 404
