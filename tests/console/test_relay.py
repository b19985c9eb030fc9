"""The relay of `meshplane console`, by raw HTTP: what it passes to the App Mesh API, and what it refuses.

Each refusal is shown to stop the request before the API: the same request with the
token, the console's origin and an allowed path does reach it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest
from meshplane.local.harness import LocalStack
from support import wait_until

from console.harness import TOKEN_HEADER, RunningConsole, call, clean_env, console_process, relayed
from console.meshes import create_color_mesh, weighted

pytestmark = pytest.mark.emulator
ADDRESSES = {"blue": "127.0.0.2", "green": "127.0.0.3"}


@pytest.fixture(scope="module")
def mesh(local_stack: LocalStack) -> str:
    name = f"relay-{uuid.uuid4().hex[:8]}"
    create_color_mesh(local_stack.appmesh(), name, ADDRESSES, {"blue": 100, "green": 0})
    return name


def route_path(mesh: str) -> str:
    return f"/v20190125/meshes/{mesh}/virtualRouter/color-router/routes/split"


def weights_of(local_stack: LocalStack, mesh: str) -> dict[str, int]:
    spec = local_stack.appmesh().describe_route(meshName=mesh, virtualRouterName="color-router",
                                                routeName="split")["route"]["spec"]
    return {t["virtualNode"]: t["weight"] for t in spec["httpRoute"]["action"]["weightedTargets"]}


def update_body(blue: int, green: int) -> bytes:
    return json.dumps({"spec": weighted({"blue": blue, "green": green})}).encode()


def test_the_page_and_the_api_reads_are_served(console: RunningConsole, mesh: str) -> None:
    page = call(console, "GET", "/")
    assert page.status == 200 and b'<script src="app.js"' in page.body
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert call(console, "GET", "/app.js").status == 200
    listed = relayed(console, "GET", "/v20190125/meshes")
    assert listed.status == 200, listed.body
    assert mesh in [m["meshName"] for m in listed.json["meshes"]]
    described = relayed(console, "GET", route_path(mesh))
    assert described.status == 200 and described.json["spec"]["httpRoute"]["action"]["weightedTargets"][0]["weight"] \
        == 100


def test_update_route_is_relayed_and_an_api_refusal_comes_back_verbatim(console: RunningConsole,
                                                                       local_stack: LocalStack, mesh: str) -> None:
    updated = relayed(console, "PUT", route_path(mesh), {"Content-Type": "application/json"}, update_body(70, 30))
    assert updated.status == 200, updated.body
    assert weights_of(local_stack, mesh) == {"blue": 70, "green": 30}
    refused = relayed(console, "PUT", route_path(mesh), {"Content-Type": "application/json"}, update_body(101, 0))
    assert (refused.status, refused.error_type) == (400, "BadRequestException")
    assert refused.json["message"] == ("spec.httpRoute.action.weightedTargets[0].weight: Input should be less than "
                                       "or equal to 100")
    assert weights_of(local_stack, mesh) == {"blue": 70, "green": 30}
    relayed(console, "PUT", route_path(mesh), {"Content-Type": "application/json"}, update_body(100, 0))


@pytest.mark.parametrize(("headers", "why"), [
    ({"Origin": "http://evil.example"}, "Origin"),
    ({"Origin": "null"}, "Origin"),
    ({"Sec-Fetch-Site": "cross-site"}, "Sec-Fetch-Site"),
    ({TOKEN_HEADER: ""}, TOKEN_HEADER),
    ({TOKEN_HEADER: "a-guessed-token"}, TOKEN_HEADER),
    ({"Host": "evil.example:80"}, "Host"),
], ids=["foreign-origin", "opaque-origin", "cross-site-fetch", "no-token", "wrong-token", "rebound-host"])  # fmt: skip
def test_a_call_from_anywhere_but_the_console_page_is_refused_before_the_api(
    console: RunningConsole, local_stack: LocalStack, mesh: str, headers: dict[str, str], why: str
) -> None:
    answer = relayed(console, "PUT", route_path(mesh), {"Content-Type": "application/json", **headers},
                     update_body(0, 100))
    assert (answer.status, answer.error_type) == (403, "ForbiddenException"), answer.body
    assert why in answer.json["message"]
    assert weights_of(local_stack, mesh) == {"blue": 100, "green": 0}


def test_the_console_s_own_origin_is_relayed(console: RunningConsole, mesh: str) -> None:
    same = {"Origin": console.origin, "Sec-Fetch-Site": "same-origin"}
    assert relayed(console, "GET", route_path(mesh), same).status == 200


def test_a_path_that_is_not_an_app_mesh_operation_never_reaches_the_api(console: RunningConsole,
                                                                        local_stack: LocalStack) -> None:
    with urllib.request.urlopen(f"{local_stack.api_url}/local/functions", timeout=10) as direct:
        assert direct.status == 200  # the API serves it: only the relay refuses it
    for path in ("/local/functions", "/healthz", "/v20190125/meshes/x/../../../local/functions", "/"):
        answer = relayed(console, "GET", path)
        assert answer.status in (400, 404) and answer.error_type in ("NotFoundException", "BadRequestException"), \
            (path, answer.status, answer.body)
    assert call(console, "GET", "/../static/app.js").status == 404
    assert call(console, "GET", "/console.log").status == 404


def test_an_app_mesh_operation_the_console_does_not_use_is_refused(console: RunningConsole,
                                                                   local_stack: LocalStack, mesh: str) -> None:
    deleted = relayed(console, "DELETE", route_path(mesh))
    assert (deleted.status, deleted.error_type) == (403, "ForbiddenException")
    assert "DeleteRoute" in deleted.json["message"]
    created = relayed(console, "PUT", f"/v20190125/meshes/{mesh}-new", {"Content-Type": "application/json"}, b"{}")
    assert (created.status, created.error_type) == (403, "ForbiddenException")
    assert weights_of(local_stack, mesh) == {"blue": 100, "green": 0}
    assert f"{mesh}-new" not in [m["meshName"] for m in local_stack.appmesh().list_meshes()["meshes"]]


def test_the_proxy_reads_are_relayed_to_the_api(console: RunningConsole, mesh: str) -> None:
    answer = relayed(console, "GET", f"/meshplane/v1/meshes/{mesh}/proxies")
    assert answer.status == 200, answer.body
    assert [n["name"] for n in answer.json["nodes"]] == ["blue", "front", "green"]
    config = f"/meshplane/v1/meshes/{mesh}/virtualNodes/front/config"
    wait_until(lambda: relayed(console, "GET", config).status == 200, 60, what="front's published config")
    assert relayed(console, "GET", config).json["nodeId"] == f"mesh/{mesh}/virtualNode/front"
    assert relayed(console, "PUT", f"/meshplane/v1/meshes/{mesh}/proxies").status == 404
    assert relayed(console, "DELETE", config).status == 404


def test_without_api_url_the_console_finds_the_running_local_up(local_stack: LocalStack, tmp_path: Path) -> None:
    with console_process(tmp_path, "--local-state-dir", str(local_stack.state_dir)) as running:
        assert running.api == local_stack.api_url
        assert relayed(running, "GET", "/v20190125/meshes").status == 200


def test_without_credentials_it_relays_unsigned_to_a_loopback_api_only(local_stack: LocalStack,
                                                                        tmp_path: Path) -> None:
    env = clean_env(tmp_path / "home")
    with console_process(tmp_path / "local", "--api-url", local_stack.api_url, env=env) as running:
        assert running.how == "unsigned: no AWS credentials"
        assert relayed(running, "GET", "/v20190125/meshes").status == 200
    refused = subprocess.run([sys.executable, "-m", "meshplane.cli", "console", "--api-url",
                              "https://a1b2c3.execute-api.eu-west-1.amazonaws.com/v1", "--port", "0"],
                             env=env, capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert refused.returncode == 1
    assert "no AWS credentials" in refused.stderr and "signs every call" in refused.stderr


def test_a_non_loopback_bind_and_a_missing_api_are_usage_errors(tmp_path: Path) -> None:
    def console(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "meshplane.cli", "console", "--port", "0", *args],
                              env=clean_env(tmp_path / "home"), capture_output=True, text=True, timeout=60,
                              check=False)  # fmt: skip

    wide = console("--host", "0.0.0.0", "--api-url", "http://127.0.0.1:1")
    assert wide.returncode == 2 and "not a loopback address" in wide.stderr
    nothing = console("--local-state-dir", str(tmp_path / "no-local-up"))
    assert nothing.returncode == 2 and "pass --api-url" in nothing.stderr


def api_call(local_stack: LocalStack, method: str, path: str, body: dict[str, object] | None = None) -> object:
    """A call straight to local up's API (unsigned: it checks none), for what the relay must not do itself."""
    request = urllib.request.Request(f"{local_stack.api_url}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def test_policy_and_rollout_reads_are_relayed_and_their_writes_and_commands_refused(
    console: RunningConsole, local_stack: LocalStack, mesh: str
) -> None:
    policies, rollouts = f"/meshplane/v1/meshes/{mesh}/policies", f"/meshplane/v1/meshes/{mesh}/rollouts"
    spec = {"targets": [{"virtualNode": {"virtualNodeName": "front"}}],
            "headers": {"request": {"add": [{"name": "x-via", "value": "mesh"}]}}}
    api_call(local_stack, "PUT", policies, {"policyName": "via", "spec": spec})
    api_call(local_stack, "PUT", rollouts, {"rolloutName": "green", "spec": {
        "route": {"virtualRouterName": "color-router", "routeName": "split"}, "stable": {"virtualNode": "blue"},
        "canary": {"virtualNode": "green"}, "steps": [50], "stepIntervalSeconds": 3600,
        "successCriteria": {"maxErrorRatePercent": 1}}})
    listed = relayed(console, "GET", policies)
    assert listed.status == 200 and [p["policyName"] for p in listed.json["policies"]] == ["via"], listed.body
    assert relayed(console, "GET", f"{policies}/via").json["policy"]["spec"]["headers"] == spec["headers"]
    assert [r["rolloutName"] for r in relayed(console, "GET", rollouts).json["rollouts"]] == ["green"]
    described = relayed(console, "GET", f"{rollouts}/green").json["rollout"]
    assert (described["status"]["phase"], described["status"]["history"]) == ("PENDING", [])
    refused = [relayed(console, "PUT", policies, {"Content-Type": "application/json"},
                       json.dumps({"policyName": "more", "spec": spec}).encode()),
               relayed(console, "DELETE", f"{policies}/via"),
               relayed(console, "POST", f"{rollouts}/green/start"),
               relayed(console, "DELETE", f"{rollouts}/green")]  # fmt: skip
    assert [(a.status, a.error_type) for a in refused] == [(403, "ForbiddenException")] * 4
    assert "CreatePolicy" in refused[0].json["message"] and "StartRollout" in refused[2].json["message"]
    assert relayed(console, "GET", f"{rollouts}/green").json["rollout"]["status"]["phase"] == "PENDING"
    assert [p["policyName"] for p in relayed(console, "GET", policies).json["policies"]] == ["via"]
    for path in (f"/meshplane/v1/meshes/{mesh}/other", f"{rollouts}/green/history", "/meshplane/v1/meshes"):
        assert relayed(console, "GET", path).status == 404, path
