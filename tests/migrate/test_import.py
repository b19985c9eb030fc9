"""`meshplane import` of the three color-app sources into a running `meshplane local up`.

Each source covers every resource type; each must build the same mesh (compared field by
field through the API, mesh names aside), and importing any of them again must plan nothing
and send no write call.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from meshplane.cli import main
from meshplane.local.harness import LocalStack
from meshplane.migrate.sources import cfn_yaml

from .conftest import CFN, CRD_MESH, CRDS, EXPORT, EXPORT_MESH, IMPORTS, Calls, mesh_contents

pytestmark = [pytest.mark.emulator, pytest.mark.xdist_group("migrate-import")]  # one import of the three sources
KINDS = {"mesh", "virtualNode", "virtualService", "virtualRouter", "route", "virtualGateway", "gatewayRoute"}


def run_import(local_stack: LocalStack, *arguments: str) -> int:
    return main(["import", *arguments, "--endpoint-url", local_stack.api_url, "--region", "us-east-1"])


def cfn_arguments(mesh: str, *extra: str) -> list[str]:
    imports = [f"--import-value={k}={v}" for k, v in IMPORTS.items()]
    return [str(CFN), "--parameter", f"MeshName={mesh}", *imports, *extra]


@pytest.fixture(scope="module")
def cfn_mesh() -> str:
    import uuid

    return f"colorapp-cfn-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def imported(local_stack: LocalStack, cfn_mesh: str) -> dict[str, dict[Any, Any]]:
    """The three sources, each imported once; each mesh read back through the API."""
    assert run_import(local_stack, *cfn_arguments(cfn_mesh)) == 0
    assert run_import(local_stack, str(CRDS)) == 0
    assert run_import(local_stack, str(EXPORT)) == 0
    client = local_stack.appmesh()
    return {name: mesh_contents(client, name) for name in (cfn_mesh, CRD_MESH, EXPORT_MESH)}


def test_each_source_builds_every_resource_type(imported: dict[str, dict[Any, Any]]) -> None:
    for contents in imported.values():
        assert {kind for kind, _, _ in contents} == KINDS
        assert len(contents) == 13  # mesh, 4 nodes, router, 2 routes, 2 services, gateway, 2 gateway routes
        assert all(r["status"] == {"status": "ACTIVE"} for r in contents.values())
        assert all(r["owners"] == ("123456789012", "123456789012") for r in contents.values())


def test_the_three_sources_converge_to_the_same_mesh_field_by_field(imported: dict[str, dict[Any, Any]],
                                                                    cfn_mesh: str) -> None:
    cfn, crds, export = imported[cfn_mesh], imported[CRD_MESH], imported[EXPORT_MESH]
    assert cfn.keys() == crds.keys() == export.keys()
    for key in cfn:
        assert cfn[key]["spec"] == crds[key]["spec"] == export[key]["spec"], key
        assert cfn[key]["arn"] == crds[key]["arn"] == export[key]["arn"], key
        assert cfn[key]["tags"] == export[key]["tags"], key  # the CRDs carry no tags (the controller set none)
    route = cfn[("route", "color-route", "colorteller-vr_colorapp")]["spec"]["httpRoute"]
    assert route["action"]["weightedTargets"] == [{"virtualNode": "colorteller-blue", "weight": 90},
                                                  {"virtualNode": "colorteller-green", "weight": 10}]
    assert route["retryPolicy"]["perRetryTimeout"] == {"unit": "ms", "value": 2000}
    blue = cfn[("virtualNode", "colorteller-blue", None)]["spec"]
    assert blue["serviceDiscovery"]["awsCloudMap"]["namespaceName"] == "colorapp.local"  # Fn::ImportValue
    assert blue["listeners"][0]["portMapping"] == {"port": 9080, "protocol": "http"}  # a Number parameter
    assert cfn[("mesh", "(mesh)", None)]["tags"] == [{"key": "app", "value": "colorapp"},
                                                     {"key": "team", "value": "colorapp"}]  # Fn::Select/Split
    assert ("virtualNode", "debug", None) not in cfn  # its Condition is false
    assert cfn[("virtualService", "colorteller.colorapp.svc.cluster.local", None)]["spec"] == {
        "provider": {"virtualRouter": {"virtualRouterName": "colorteller-vr_colorapp"}}}


@pytest.mark.parametrize("source", ["cloudformation", "crds", "export"])
def test_a_reimport_plans_nothing_and_sends_no_write(local_stack: LocalStack, imported: Any, cfn_mesh: str,
                                                     recorded_cli: Calls, source: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    arguments = {"cloudformation": cfn_arguments(cfn_mesh), "crds": [str(CRDS)], "export": [str(EXPORT)]}[source]
    assert run_import(local_stack, *arguments) == 0
    out = capsys.readouterr().out
    assert "Plan: 0 to create, 0 to update, 13 unchanged." in out
    assert recorded_cli.names and recorded_cli.writes == []  # it read the target, and wrote nothing


def test_a_json_template_imports_as_its_yaml(local_stack: LocalStack, imported: Any, cfn_mesh: str,
                                             recorded_cli: Calls, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    template = tmp_path / "colorapp.json"
    template.write_text(json.dumps(cfn_yaml.load_all(CFN.read_text())[0], indent=2))
    arguments = cfn_arguments(cfn_mesh)
    arguments[0] = str(template)
    assert run_import(local_stack, *arguments) == 0
    assert "Plan: 0 to create, 0 to update, 13 unchanged." in capsys.readouterr().out
    assert recorded_cli.writes == []


def test_dry_run_prints_a_field_level_diff_and_changes_nothing(local_stack: LocalStack, recorded_cli: Calls,
                                                                unique: Callable[[str], str],
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    mesh = unique("colorapp-canary")
    assert run_import(local_stack, *cfn_arguments(mesh)) == 0
    created = capsys.readouterr().out
    assert "+ create virtualNode 'colorteller-blue' in mesh" in created
    assert "+ spec.listeners[0].portMapping.port: 9080" in created
    assert "Plan: 13 to create, 0 to update, 0 unchanged." in created
    assert recorded_cli.writes.count("CreateVirtualNode") == 4

    recorded_cli.names.clear()
    canary = cfn_arguments(mesh, "--parameter", "BlueWeight=50", "--parameter", "GreenWeight=50", "--dry-run")
    assert run_import(local_stack, *canary) == 0
    plan = capsys.readouterr().out
    assert "~ update route 'color-route' in virtualRouter 'colorteller-vr_colorapp'" in plan
    assert "    ~ spec.httpRoute.action.weightedTargets[0].weight: 90 -> 50" in plan
    assert "    ~ spec.httpRoute.action.weightedTargets[1].weight: 10 -> 50" in plan
    assert "Plan: 0 to create, 1 to update, 12 unchanged." in plan
    assert recorded_cli.writes == []
    route = local_stack.appmesh().describe_route(meshName=mesh, virtualRouterName="colorteller-vr_colorapp",
                                                 routeName="color-route")["route"]
    assert [t["weight"] for t in route["spec"]["httpRoute"]["action"]["weightedTargets"]] == [90, 10]

    recorded_cli.names.clear()
    assert run_import(local_stack, *canary[:-1]) == 0  # without --dry-run
    assert recorded_cli.writes == ["UpdateRoute"]
    route = local_stack.appmesh().describe_route(meshName=mesh, virtualRouterName="colorteller-vr_colorapp",
                                                 routeName="color-route")["route"]
    assert [t["weight"] for t in route["spec"]["httpRoute"]["action"]["weightedTargets"]] == [50, 50]
    assert route["metadata"]["version"] == 2


def test_tags_are_converged_both_ways(local_stack: LocalStack, recorded_cli: Calls, unique: Callable[[str], str],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    mesh = unique("colorapp-tags")
    assert run_import(local_stack, *cfn_arguments(mesh)) == 0
    client = local_stack.appmesh()
    node = client.describe_virtual_node(meshName=mesh, virtualNodeName="colorteller-blue")["virtualNode"]
    arn = node["metadata"]["arn"]
    client.tag_resource(resourceArn=arn, tags=[{"key": "owner", "value": "someone"}, {"key": "color", "value": "x"}])
    capsys.readouterr()
    recorded_cli.names.clear()
    assert run_import(local_stack, *cfn_arguments(mesh)) == 0
    out = capsys.readouterr().out
    assert '    ~ tags.color: "x" -> "blue"' in out and '    - tags.owner: "someone"' in out
    assert sorted(recorded_cli.writes) == ["TagResource", "UntagResource"]
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "color", "value": "blue"}]


def test_a_refusal_halfway_stops_and_reports_what_was_and_was_not_applied(
        local_stack: LocalStack, recorded_cli: Calls, unique: Callable[[str], str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The API refuses a route whose target port is not a listener of the node (a rule of the API, not of the
    shapes): what was applied before it is complete, nothing after it was tried, and a fixed re-run finishes."""
    mesh = unique("colorapp-half")
    broken = CFN.read_text().replace("Weight: !Ref BlueWeight", "Weight: !Ref BlueWeight\n                Port: 9999")
    template = tmp_path / "colorapp-broken.yaml"
    template.write_text(broken)
    arguments = cfn_arguments(mesh)
    arguments[0] = str(template)
    assert run_import(local_stack, *arguments) == 1
    out = capsys.readouterr().out
    assert "FAILED: create route 'color-route' in virtualRouter 'colorteller-vr_colorapp'" in out
    assert "9999 is not a listener port" in out
    assert "not applied: create virtualService 'colorteller.colorapp.svc.cluster.local'" in out
    assert "not applied: create gatewayRoute 'front-gr_colorapp'" in out
    assert "Stopped: 7 applied, 1 failed, 5 not applied." in out
    contents = mesh_contents(local_stack.appmesh(), mesh)
    assert sorted(k[:2] for k in contents) == sorted([
        ("mesh", "(mesh)"), ("virtualNode", "colorteller-blue"), ("virtualNode", "colorteller-green"),
        ("virtualNode", "colorteller-red_colorapp"), ("virtualNode", "front"),
        ("virtualRouter", "colorteller-vr_colorapp"), ("route", "color-red-route")])

    recorded_cli.names.clear()
    assert run_import(local_stack, *cfn_arguments(mesh)) == 0  # the cause fixed: only what is missing
    assert sorted(recorded_cli.writes) == sorted(["CreateRoute", "CreateVirtualService", "CreateVirtualService",
                                                  "CreateVirtualGateway", "CreateGatewayRoute", "CreateGatewayRoute"])
    assert len(mesh_contents(local_stack.appmesh(), mesh)) == 13


def test_the_plan_is_one_json_document_for_scripts(local_stack: LocalStack, imported: Any, cfn_mesh: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert run_import(local_stack, *cfn_arguments(cfn_mesh, "--parameter", "GreenWeight=20", "--dry-run",
                                                  "--output", "json")) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["report"] is None
    assert document["plan"]["summary"] == {"create": 0, "update": 1, "unchanged": 12}
    (update,) = [s for s in document["plan"]["steps"] if s["action"] == "update"]
    assert update == {"action": "update", "kind": "route", "mesh": cfn_mesh, "name": "color-route",
                      "parent": "colorteller-vr_colorapp", "source": f"{CFN}: ColorRoute", "notes": [],
                      "changes": [{"path": "spec.httpRoute.action.weightedTargets[1].weight", "before": 10,
                                   "after": 20}]}


def test_an_export_directory_of_describe_outputs_reads_as_the_one_file(local_stack: LocalStack, imported: Any,
                                                                       recorded_cli: Calls, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """What `aws appmesh describe-* > file` leaves: one output per file, in a directory."""
    for i, document in enumerate(json.loads(EXPORT.read_text())):
        (tmp_path / "export" / f"{i:02d}.json").parent.mkdir(exist_ok=True)
        (tmp_path / "export" / f"{i:02d}.json").write_text(json.dumps(document, indent=2))
    assert run_import(local_stack, str(tmp_path / "export")) == 0
    assert "Plan: 0 to create, 0 to update, 13 unchanged." in capsys.readouterr().out
    assert recorded_cli.writes == []
