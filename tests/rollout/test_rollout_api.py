"""The Rollout API through HTTP and the local API server: bad specs refused naming the field, commands that
move the route's weights through UpdateRoute, and the guards on the route and the rollout."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from api.conftest import REGION, Stack, moto_endpoint, stack
from api.specs import http_route, node_spec, router_spec

from rollout.support import call, rollout_spec

__all__ = ["moto_endpoint", "stack"]  # the API's fixtures (tests/api/conftest.py)


def new_mesh(stack: Stack) -> str:
    appmesh = stack.appmesh()
    name = f"ro-{uuid.uuid4().hex[:8]}"
    appmesh.create_mesh(meshName=name)
    for node in ("blue", "green", "other"):
        appmesh.create_virtual_node(meshName=name, virtualNodeName=node, spec=node_spec(8080))
    appmesh.create_virtual_router(meshName=name, virtualRouterName="router", spec=router_spec())
    appmesh.create_route(meshName=name, virtualRouterName="router", routeName="all",
                         spec=http_route(("blue", 100), ("green", 0)))
    return name


@pytest.fixture(scope="module")
def shared_mesh(stack: Stack) -> str:
    """For the refusals, which store nothing."""
    return new_mesh(stack)


@pytest.fixture
def mesh(stack: Stack) -> str:
    return new_mesh(stack)


def weights(stack: Stack, mesh: str) -> dict[str, int]:
    route = stack.appmesh().describe_route(meshName=mesh, virtualRouterName="router", routeName="all")["route"]
    return {t["virtualNode"]: t["weight"] for t in route["spec"]["httpRoute"]["action"]["weightedTargets"]}


def create(stack: Stack, mesh: str, name: str, spec: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return call(stack.api_endpoint, "PUT", f"/meshes/{mesh}/rollouts", {"rolloutName": name, "spec": spec})


@pytest.mark.parametrize(("changes", "status", "field"), [
    ({"steps": [10, 10, 50]}, 400, "spec.steps[1]"),
    ({"steps": [50, 20]}, 400, "spec.steps[1]"),
    ({"steps": [0, 50]}, 400, "spec.steps[0]"),
    ({"steps": [10, 101]}, 400, "spec.steps[1]"),
    ({"steps": []}, 400, "spec.steps"),
    ({"stepIntervalSeconds": 0}, 400, "spec.stepIntervalSeconds"),
    ({"stepIntervalSeconds": 86_401}, 400, "spec.stepIntervalSeconds"),
    ({"stepIntervalSeconds": "2"}, 400, "spec.stepIntervalSeconds"),
    ({"canary": {"virtualNode": "blue"}}, 400, "spec.canary"),
    ({"canary": {"virtualNode": "other"}}, 400, "spec.canary"),
    ({"canary": {"virtualNode": "green", "port": 8080}}, 400, "spec.canary"),
    ({"successCriteria": {"minimumRequests": 5}}, 400, "spec.successCriteria"),
    ({"successCriteria": {"maxErrorRatePercent": 101}}, 400, "spec.successCriteria.maxErrorRatePercent"),
    ({"successCriteria": {"alarmNames": ["a", "a"]}}, 400, "spec.successCriteria.alarmNames"),
    ({"maxFailedChecks": -1}, 400, "spec.maxFailedChecks"),
    ({"route": {"virtualRouterName": "router", "routeName": "nope"}}, 404, "spec.route"),
    ({"gatewayRoute": {"virtualGatewayName": "g", "gatewayRouteName": "r"}}, 400, "spec.gatewayRoute"),
])
def test_bad_specs_are_refused_naming_the_field(stack: Stack, shared_mesh: str, changes: dict[str, Any],
                                                status: int, field: str) -> None:
    got, body = create(stack, shared_mesh, "bad", rollout_spec(**changes))
    assert got == status, body
    assert body["type"].startswith("BadRequestException" if status == 400 else "NotFoundException"), body
    assert body["message"].startswith(f"{field}"), body


def test_commands_move_the_weights_through_update_route(stack: Stack, mesh: str) -> None:
    status, body = create(stack, mesh, "green", rollout_spec())
    assert status == 200, body
    assert body["rollout"]["status"]["phase"] == "PENDING"
    assert weights(stack, mesh) == {"blue": 100, "green": 0}
    base = f"/meshes/{mesh}/rollouts/green"
    status, body = call(stack.api_endpoint, "POST", f"{base}/start")
    assert status == 200, body
    assert body["rollout"]["status"]["weights"] == {"stable": 90, "canary": 10}
    assert weights(stack, mesh) == {"blue": 90, "green": 10}
    assert call(stack.api_endpoint, "POST", f"{base}/start")[1]["type"].startswith("ConflictException")
    assert call(stack.api_endpoint, "POST", f"{base}/pause")[0] == 200
    assert call(stack.api_endpoint, "POST", f"{base}/resume")[0] == 200
    status, body = call(stack.api_endpoint, "POST", f"{base}/abort")
    assert status == 200, body
    assert weights(stack, mesh) == {"blue": 100, "green": 0}
    history = call(stack.api_endpoint, "GET", base)[1]["rollout"]["status"]["history"]
    assert [h["decision"] for h in history] == ["STARTED", "PAUSED", "RESUMED", "ABORTED"]
    assert call(stack.api_endpoint, "POST", f"{base}/resume")[1]["type"].startswith("ConflictException")


def test_an_active_rollout_guards_its_route_and_itself(stack: Stack, mesh: str) -> None:
    assert create(stack, mesh, "first", rollout_spec())[0] == 200
    assert create(stack, mesh, "second", rollout_spec())[0] == 200
    assert create(stack, mesh, "first", rollout_spec())[1]["type"].startswith("ConflictException")
    assert call(stack.api_endpoint, "POST", f"/meshes/{mesh}/rollouts/first/start")[0] == 200
    status, body = call(stack.api_endpoint, "POST", f"/meshes/{mesh}/rollouts/second/start")
    assert status == 409 and "'first' is already rolling out" in body["message"], body
    status, body = call(stack.api_endpoint, "DELETE", f"/meshes/{mesh}/rollouts/first")
    assert status == 409 and body["type"].startswith("ResourceInUseException"), body
    error = stack.appmesh().exceptions.ResourceInUseException
    with pytest.raises(error):
        stack.appmesh().delete_route(meshName=mesh, virtualRouterName="router", routeName="all")
    assert call(stack.api_endpoint, "POST", f"/meshes/{mesh}/rollouts/first/promote")[0] == 200
    assert weights(stack, mesh) == {"blue": 0, "green": 100}
    for name in ("first", "second"):
        assert call(stack.api_endpoint, "DELETE", f"/meshes/{mesh}/rollouts/{name}")[0] == 200
    stack.appmesh().delete_route(meshName=mesh, virtualRouterName="router", routeName="all")
    listed = call(stack.api_endpoint, "GET", f"/meshes/{mesh}/rollouts")[1]
    assert listed == {"rollouts": []}


def test_unknown_operations_and_commands_are_not_found(stack: Stack, shared_mesh: str) -> None:
    assert call(stack.api_endpoint, "POST", f"/meshes/{shared_mesh}/rollouts/x/explode")[0] == 404
    assert call(stack.api_endpoint, "GET", f"/meshes/{shared_mesh}/rollouts/missing")[1]["type"].startswith(
        "NotFoundException")


def test_the_cli_creates_starts_and_shows_the_history(stack: Stack, mesh: str, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from meshplane.cli import main

    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(rollout_spec()))
    common = ["--api-url", stack.api_endpoint, "--region", REGION, "--mesh-name", mesh, "--rollout-name", "cli"]
    assert main(["rollout", "create", *common, "--spec", f"file://{spec_file}"]) == 0
    assert json.loads(capsys.readouterr().out)["rollout"]["status"]["phase"] == "PENDING"
    assert main(["rollout", "start", *common]) == 0
    capsys.readouterr()
    assert main(["rollout", "status", *common]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "cli: PROGRESSING at step 0, weights stable 90 / canary 10, 0 failed check(s)"
    assert "STARTED" in lines[1] and "step  0" in lines[1]
    assert main(["rollout", "start", *common]) == 1  # the API's ConflictException, one line on stderr
    assert "An error occurred (ConflictException) when calling the StartRollout operation: cannot start" in (
        capsys.readouterr().err)
