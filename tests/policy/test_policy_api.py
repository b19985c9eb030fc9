"""The Policy extension API over HTTP against moto's DynamoDB, and `meshplane policy` against the same API.

Every client mistake is a 4xx in App Mesh's error shapes naming the field; a policy shows up in
describe and list; versions, client tokens, the quota, Conflict between policies and ResourceInUse
on targeted resources hold as they do for the App Mesh kinds.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from api.conftest import REGION, Stack, moto_endpoint, stack, unique
from meshplane.cli import main
from meshplane.model.policy.keys import PolicyKey
from meshplane.model.policy.spec import PolicySpec
from meshplane.store.errors import LimitExceeded
from meshplane.store.limits import Limits
from meshplane.store.policies import PolicyStore
from meshplane.store.resources import ResourceStore

__all__ = ["moto_endpoint", "stack", "unique"]  # the API tests' moto server and local API, as fixtures here

AUTHZ = {"rules": [{"action": "ALLOW", "from": [{"virtualNode": "front"}]}]}


def _call(stack: Stack, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any], str]:
    """(status, JSON answer, x-amzn-ErrorType) of one request to the local API."""
    data = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else body
    request = urllib.request.Request(stack.api_endpoint + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), ""
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), error.headers.get("x-amzn-ErrorType", "")


@pytest.fixture
def mesh(stack: Stack, unique: Callable[[str], str]) -> str:
    return _mesh(stack, unique("pmesh"))


@pytest.fixture(scope="module")
def unchanged_mesh(stack: Stack) -> str:
    """One mesh for the tests whose requests are all refused (so it stays as built)."""
    return _mesh(stack, "refusals")


def _mesh(stack: Stack, name: str) -> str:
    """A mesh with nodes `front` and `back` and a router with one route to `back`."""
    appmesh = stack.appmesh()
    appmesh.create_mesh(meshName=name)
    http = {"portMapping": {"port": 8080, "protocol": "http"}}
    for node in ("front", "back"):
        appmesh.create_virtual_node(meshName=name, virtualNodeName=node, spec={"listeners": [http]})
    appmesh.create_virtual_router(meshName=name, virtualRouterName="router", spec={"listeners": [http]})
    appmesh.create_route(meshName=name, virtualRouterName="router", routeName="r", spec={"httpRoute": {
        "match": {"prefix": "/"}, "action": {"weightedTargets": [{"virtualNode": "back", "weight": 1}]}}})
    return name


def _node(name: str) -> dict[str, Any]:
    return {"virtualNode": {"virtualNodeName": name}}


def _create(stack: Stack, mesh: str, name: str, **spec: Any) -> tuple[int, dict[str, Any], str]:
    return _call(stack, "PUT", f"/meshplane/v1/meshes/{mesh}/policies", {"policyName": name, "spec": spec})


def test_create_describe_list_update_delete(stack: Stack, mesh: str) -> None:
    base = f"/meshplane/v1/meshes/{mesh}/policies"
    status, created, _ = _create(stack, mesh, "a", targets=[_node("back")], authorization=AUTHZ)
    assert status == 200
    policy = created["policy"]
    assert policy["metadata"]["arn"] == f"arn:aws:meshplane:us-east-1:123456789012:mesh/{mesh}/policy/a"
    assert (policy["metadata"]["version"], policy["status"]) == (1, {"status": "ACTIVE"})
    assert policy["spec"]["authorization"]["rules"] == AUTHZ["rules"]
    _create(stack, mesh, "b", targets=[{"route": {"virtualRouterName": "router", "routeName": "r"}}],
            headers={"request": {"remove": ["x-debug"]}})
    assert _call(stack, "GET", f"{base}/a")[1] == created

    status, page, _ = _call(stack, "GET", f"{base}?limit=1")
    assert status == 200 and [p["policyName"] for p in page["policies"]] == ["a"]
    rest = _call(stack, "GET", f"{base}?limit=1&nextToken={page['nextToken']}")[1]
    assert [p["policyName"] for p in rest["policies"]] == ["b"] and "nextToken" not in rest

    spec = {"targets": [_node("back"), _node("front")], "authorization": AUTHZ}
    status, updated, _ = _call(stack, "PUT", f"{base}/a", {"spec": spec})
    assert status == 200 and updated["policy"]["metadata"]["version"] == 2
    assert updated["policy"]["metadata"]["uid"] == policy["metadata"]["uid"]

    status, deleted, _ = _call(stack, "DELETE", f"{base}/a")
    assert status == 200 and deleted["policy"]["status"] == {"status": "DELETED"}
    assert _call(stack, "GET", f"{base}/a")[:3:2] == (404, "NotFoundException")


def test_a_client_token_repeats_its_first_answer_and_refuses_another_request(stack: Stack, mesh: str) -> None:
    body = {"policyName": "t", "clientToken": "token-1", "spec": {"targets": [_node("back")], "authorization": AUTHZ}}
    first = _call(stack, "PUT", f"/meshplane/v1/meshes/{mesh}/policies", body)
    assert first[0] == 200 and _call(stack, "PUT", f"/meshplane/v1/meshes/{mesh}/policies", body) == first
    other = {**body, "spec": {"targets": [_node("front")], "authorization": AUTHZ}}
    assert _call(stack, "PUT", f"/meshplane/v1/meshes/{mesh}/policies", other)[::2] == (409, "ConflictException")


BAD_INPUT = [
    ({"targets": [_node("back")], "rateLimit": {"requestsPerUnit": "10", "unit": "SECOND"}},
     "spec.rateLimit.requestsPerUnit: Input should be a valid integer"),
    ({"targets": [_node("back")], "authorization": {"rules": [{"action": "ALLOW", "form": []}]}},
     "spec.authorization.rules[0].form: Extra inputs are not permitted"),
    ({"targets": [_node("back")], "authorization": AUTHZ, "colour": "blue"}, "spec.colour: Extra inputs"),
    ({"targets": [_node("back")], "authorization": {"rules": [
        {"action": "ALLOW", "to": {"methods": ["GET"]}}, {"action": "DENY", "to": {"methods": ["GET"]}}]}},
     "spec.authorization: Value error, rules[1]: denies exactly what an ALLOW rule allows"),
    ({"targets": [_node("back")], "authorization": {"rules": [{"action": "ALLOW", "to": {"paths": [
        {"exact": "/a", "prefix": "/b"}]}}]}},
     "spec.authorization.rules[0].to.paths[0]: Value error, exactly one of exact or prefix"),
    ({"targets": [_node("back")], "authorization": {"rules": [{"action": "PERMIT"}]}},
     "spec.authorization.rules[0].action: Input should be 'ALLOW' or 'DENY'"),
    ({"targets": [_node("back")], "mirror": {"virtualNodeName": "front"}},
     "spec.mirror: applies to route targets only, not targets[0] (virtualNode)"),
    ({"targets": [_node("back")]}, "spec: at least one section must be given"),
    ({"targets": [_node("back"), _node("back")], "authorization": AUTHZ},
     "spec.targets[1]: the same target as targets[0]"),
    ({"targets": [], "authorization": AUTHZ}, "spec.targets: List should have at least 1 item"),
]


@pytest.mark.parametrize(("spec", "says"), BAD_INPUT)
def test_bad_input_is_a_bad_request_naming_the_field(
    stack: Stack, unchanged_mesh: str, spec: dict[str, Any], says: str
) -> None:
    body = {"policyName": "x", "spec": spec}
    status, answer, kind = _call(stack, "PUT", f"/meshplane/v1/meshes/{unchanged_mesh}/policies", body)
    assert (status, kind) == (400, "BadRequestException")
    assert answer["message"].startswith(says), answer


def test_requests_outside_the_shapes_are_refused(stack: Stack, unchanged_mesh: str) -> None:
    base = f"/meshplane/v1/meshes/{unchanged_mesh}/policies"
    assert _call(stack, "PUT", base, {"policyName": "x", "spec": {}, "extra": 1})[1]["message"] == (
        "extra: unknown field for CreatePolicy")
    assert _call(stack, "PUT", base, {"policyName": "a/b"})[2] == "BadRequestException"
    assert _call(stack, "GET", f"{base}?page=2")[1]["message"] == "page: unknown query parameter for ListPolicies"
    assert _call(stack, "PUT", base, b"[1]")[1]["message"] == "body: must be a JSON object"
    assert _call(stack, "POST", base)[::2] == (404, "NotFoundException")


def test_missing_targets_are_not_found_naming_them(stack: Stack, unchanged_mesh: str) -> None:
    status, answer, kind = _create(stack, unchanged_mesh, "x", targets=[_node("back"), _node("ghost")],
                                   authorization=AUTHZ)
    assert (status, kind) == (404, "NotFoundException")
    assert answer["message"] == f"spec.targets[1]: virtualNode 'ghost' in mesh '{unchanged_mesh}' does not exist"
    assert _create(stack, "no-such-mesh", "x", targets=[_node("back")], authorization=AUTHZ)[::2] == (
        404, "NotFoundException")
    route = {"route": {"virtualRouterName": "router", "routeName": "r"}}
    status, answer, kind = _create(stack, unchanged_mesh, "x", targets=[route], mirror={"virtualNodeName": "shadow"})
    assert (status, kind, answer["message"]) == (
        404, "NotFoundException", f"spec.mirror.virtualNodeName: virtualNode 'shadow' in mesh '{unchanged_mesh}' "
        "does not exist")


def test_two_policies_giving_one_section_to_one_target_conflict(stack: Stack, mesh: str) -> None:
    assert _create(stack, mesh, "first", targets=[_node("back")], authorization=AUTHZ)[0] == 200
    status, answer, kind = _create(stack, mesh, "second", targets=[_node("front"), _node("back")],
                                   authorization=AUTHZ)
    assert (status, kind) == (409, "ConflictException")
    assert answer["message"] == (f"spec.authorization: policy 'first' already gives authorization to "
                                 f"virtualNode 'back' in mesh '{mesh}'")
    assert _create(stack, mesh, "third", targets=[_node("back")], rateLimit={"requestsPerUnit": 5,
                                                                              "unit": "SECOND"})[0] == 200


def test_concurrent_policies_for_one_section_of_one_target_leave_exactly_one(stack: Stack, mesh: str) -> None:
    """The claim item is written on the revision each writer read, so racing writers cannot both win."""
    def create(i: int) -> int:
        return _create(stack, mesh, f"racer-{i}", targets=[_node("back")], authorization=AUTHZ)[0]

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(pool.map(create, range(6)))
    assert statuses == [200] + [409] * 5, statuses
    listed = _call(stack, "GET", f"/meshplane/v1/meshes/{mesh}/policies")[1]["policies"]
    assert len(listed) == 1


def test_a_targeted_resource_and_a_mesh_with_policies_are_in_use(stack: Stack, mesh: str) -> None:
    appmesh = stack.appmesh()
    route = {"route": {"virtualRouterName": "router", "routeName": "r"}}
    _create(stack, mesh, "on-front", targets=[_node("front")], authorization=AUTHZ)
    _create(stack, mesh, "on-route", targets=[route], headers={"request": {"remove": ["x-debug"]}})
    with pytest.raises(appmesh.exceptions.ResourceInUseException, match="policy 'on-front' targets it"):
        appmesh.delete_virtual_node(meshName=mesh, virtualNodeName="front")
    with pytest.raises(appmesh.exceptions.ResourceInUseException, match="policy 'on-route' targets it"):
        appmesh.delete_route(meshName=mesh, virtualRouterName="router", routeName="r")
    for name in ("on-front", "on-route"):
        _call(stack, "DELETE", f"/meshplane/v1/meshes/{mesh}/policies/{name}")
    _create(stack, mesh, "on-mesh", targets=[{"mesh": {}}], tracing={"collector": {"hostname": "otel", "port": 4317}})
    appmesh.delete_route(meshName=mesh, virtualRouterName="router", routeName="r")
    appmesh.delete_virtual_router(meshName=mesh, virtualRouterName="router")
    for node in ("front", "back"):
        appmesh.delete_virtual_node(meshName=mesh, virtualNodeName=node)
    with pytest.raises(appmesh.exceptions.ResourceInUseException, match="it still holds 1 policy"):
        appmesh.delete_mesh(meshName=mesh)
    _call(stack, "DELETE", f"/meshplane/v1/meshes/{mesh}/policies/on-mesh")
    appmesh.delete_mesh(meshName=mesh)


def test_the_policy_quota_of_a_mesh(stack: Stack, mesh: str) -> None:
    resources = ResourceStore(stack.table, stack.store.client, limits=Limits(policies_per_mesh=1))
    store = PolicyStore(resources)
    store.create(PolicyKey(mesh, "one"), PolicySpec.model_validate({"targets": [_node("back")],
                                                                   "authorization": AUTHZ}))
    with pytest.raises(LimitExceeded, match="already holds the maximum of 1 policies"):
        store.create(PolicyKey(mesh, "two"), PolicySpec.model_validate({"targets": [_node("front")],
                                                                       "authorization": AUTHZ}))


def test_the_cli_creates_from_cli_input_json_and_reports_errors_as_the_aws_cli_does(
    stack: Stack, mesh: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    request = {"meshName": mesh, "policyName": "cli", "spec": {"targets": [_node("back")], "authorization": AUTHZ}}
    (tmp_path / "policy.json").write_text(json.dumps(request))
    api = ["--api-url", stack.api_endpoint, "--region", REGION]
    assert main(["policy", "create", *api, "--cli-input-json", f"file://{tmp_path / 'policy.json'}"]) == 0
    assert json.loads(capsys.readouterr().out)["policy"]["spec"]["authorization"]["rules"] == AUTHZ["rules"]

    spec = json.dumps({"targets": [_node("front")], "authorization": AUTHZ})
    assert main(["policy", "update", *api, "--mesh-name", mesh, "--policy-name", "cli", "--spec", spec]) == 0
    assert json.loads(capsys.readouterr().out)["policy"]["metadata"]["version"] == 2
    assert main(["policy", "list", *api, "--mesh-name", mesh]) == 0
    assert [p["policyName"] for p in json.loads(capsys.readouterr().out)["policies"]] == ["cli"]

    assert main(["policy", "create", *api, "--cli-input-json", f"file://{tmp_path / 'policy.json'}",
                 "--policy-name", "again", "--spec", spec]) == 1  # the flags win over the document
    assert capsys.readouterr().err.strip().endswith(
        "An error occurred (ConflictException) when calling the CreatePolicy operation: spec.authorization: "
        f"policy 'cli' already gives authorization to virtualNode 'front' in mesh '{mesh}'")
    assert main(["policy", "delete", *api, "--mesh-name", mesh, "--policy-name", "cli"]) == 0
    assert json.loads(capsys.readouterr().out)["policy"]["status"] == {"status": "DELETED"}


def test_a_mirrors_shadow_node_is_in_use_while_a_policy_names_it(stack: Stack, mesh: str) -> None:
    appmesh = stack.appmesh()
    base = f"/meshplane/v1/meshes/{mesh}/policies"
    route = {"route": {"virtualRouterName": "router", "routeName": "r"}}
    mirror = {"virtualNodeName": "front", "percent": 5}
    assert _create(stack, mesh, "shadowing", targets=[route], mirror=mirror)[0] == 200
    with pytest.raises(appmesh.exceptions.ResourceInUseException, match="policy 'shadowing' targets it"):
        appmesh.delete_virtual_node(meshName=mesh, virtualNodeName="front")
    appmesh.create_virtual_node(meshName=mesh, virtualNodeName="spare", spec={})
    moved = {"spec": {"targets": [route], "mirror": {"virtualNodeName": "spare", "percent": 5}}}
    assert _call(stack, "PUT", f"{base}/shadowing", moved)[0] == 200
    appmesh.delete_virtual_node(meshName=mesh, virtualNodeName="front")  # no longer named: free to go
    with pytest.raises(appmesh.exceptions.ResourceInUseException, match="policy 'shadowing' targets it"):
        appmesh.delete_virtual_node(meshName=mesh, virtualNodeName="spare")
    assert _call(stack, "DELETE", f"{base}/shadowing")[0] == 200
    appmesh.delete_virtual_node(meshName=mesh, virtualNodeName="spare")


def test_app_mesh_tag_operations_work_on_a_policys_arn(stack: Stack, mesh: str) -> None:
    appmesh = stack.appmesh()  # the unmodified boto3 client
    tagged = {"policyName": "tagged", "spec": {"targets": [_node("back")], "authorization": AUTHZ},
              "tags": [{"key": "team", "value": "shop"}]}
    arn = _call(stack, "PUT", f"/meshplane/v1/meshes/{mesh}/policies", tagged)[1]["policy"]["metadata"]["arn"]
    assert arn.split(":")[2] == "meshplane" and arn.endswith(f":mesh/{mesh}/policy/tagged")
    appmesh.tag_resource(resourceArn=arn, tags=[{"key": "tier", "value": "gold"}, {"key": "team", "value": "pay"}])
    assert appmesh.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "team", "value": "pay"},
                                                                       {"key": "tier", "value": "gold"}]
    first = appmesh.list_tags_for_resource(resourceArn=arn, limit=1)
    assert first["tags"] == [{"key": "team", "value": "pay"}] and first["nextToken"]
    appmesh.untag_resource(resourceArn=arn, tagKeys=["team"])
    assert appmesh.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "tier", "value": "gold"}]
    described = _call(stack, "GET", f"/meshplane/v1/meshes/{mesh}/policies/tagged")[1]["policy"]
    assert described["metadata"]["version"] == 1  # tags are not a change of the policy


def test_tag_operations_on_a_missing_or_foreign_policy_are_refused(stack: Stack, unchanged_mesh: str) -> None:
    appmesh = stack.appmesh()
    arn = f"arn:aws:meshplane:{stack.store.region}:{stack.store.account}:mesh/{unchanged_mesh}/policy/absent"
    foreign = arn.replace(f":{stack.store.account}:", ":999999999999:")
    for call in (lambda a: appmesh.list_tags_for_resource(resourceArn=a),
                 lambda a: appmesh.tag_resource(resourceArn=a, tags=[{"key": "k", "value": "v"}]),
                 lambda a: appmesh.untag_resource(resourceArn=a, tagKeys=["k"])):
        with pytest.raises(appmesh.exceptions.NotFoundException, match=r"policy 'absent' .* does not exist"):
            call(arn)
        with pytest.raises(appmesh.exceptions.NotFoundException, match="not a resource of this account"):
            call(foreign)
    with pytest.raises(appmesh.exceptions.BadRequestException, match="resourceArn"):
        appmesh.list_tags_for_resource(resourceArn=arn.replace("/policy/", "/rollout/"))
