"""A malformed or unsupported source is refused before anything is applied, naming file, resource and field."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from meshplane.cli import main
from meshplane.local.harness import LocalStack

from .conftest import CFN, CRDS, EXPORT, IMPORTS, Calls

pytestmark = pytest.mark.emulator


def _edited(original: Path, path: Path, old: str, new: str) -> Path:
    text = original.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


def _cfn(tmp_path: Path, old: str, new: str) -> Path:
    return _edited(CFN, tmp_path / "broken.yaml", old, new)


def _crds(tmp_path: Path, old: str, new: str) -> Path:
    return _edited(CRDS, tmp_path / "broken-crds.yaml", old, new)


CASES: dict[str, tuple[Callable[[Path], Path], list[str]]] = {
    "misspelt property": (
        lambda t: _cfn(t, "          - PortMapping:\n              Port: !Ref AppPort\n              Protocol: http\n"
                          "            HealthCheck:",
                       "          - PortMaping:\n              Port: !Ref AppPort\n              Protocol: http\n"
                       "            HealthCheck:"),
        ["broken.yaml: ColorTellerBlueNode: Properties.Spec.Listeners[0].PortMaping: unknown property; "
         "Listener has: connectionPool, healthCheck"]),
    "wrong type": (
        lambda t: _cfn(t, "              Port: 8080", "              Port: eighty"),
        ["broken.yaml: FrontNode: Properties.Spec.Listeners[0].PortMapping.Port: must be an integer, got 'eighty'"]),
    "out of range": (
        lambda t: _cfn(t, "                Weight: 1\n", "                Weight: 101\n"),
        ["broken.yaml: RedRoute: Properties.Spec.HttpRoute.Action.WeightedTargets[0].Weight: "
         "Input should be less than or equal to 100"]),
    "unsupported type": (
        lambda t: _cfn(t, "Type: AWS::AppMesh::VirtualRouter", "Type: AWS::AppMesh::VirtualRouterV2"),
        ["broken.yaml: ColorTellerRouter: Type: AWS::AppMesh::VirtualRouterV2 is not an App Mesh resource type"]),
    "read-only property": (
        lambda t: _cfn(t, "      VirtualNodeName: front\n", "      VirtualNodeName: front\n      Uid: abc\n"),
        ["broken.yaml: FrontNode: Properties.Uid: is an attribute App Mesh sets"]),
    "unresolvable attribute": (
        lambda t: _cfn(t, "!GetAtt FrontNode.VirtualNodeName", "!GetAtt FrontNode.NodeName"),
        ["broken.yaml: FrontVirtualService: Properties.Spec.Provider.VirtualNode.VirtualNodeName.Fn::GetAtt: "
         "FrontNode has no attribute 'NodeName'"]),
    "undefined condition": (
        lambda t: _cfn(t, "Condition: HasDebugNode", "Condition: HasDebug"),
        ["broken.yaml: DebugNode: Condition: condition 'HasDebug' is not defined in Conditions"]),
    "missing export": (
        lambda t: _cfn(t, "${InfraStackName}-CloudMapNamespaceName", "${InfraStackName}-Namespace"),
        ["ColorTellerBlueNode: Properties.Spec.ServiceDiscovery.AWSCloudMap.NamespaceName.Fn::ImportValue: "
         "export 'colorapp-infra-Namespace' is not in the supplied exports: pass --import-value"]),
    "crd reference to nothing": (
        lambda t: _crds(t, "        virtualServiceRef:\n          name: colorteller\n  logging",
                        "        virtualServiceRef:\n          name: colortellr\n  logging"),
        ["broken-crds.yaml: VirtualNode colorapp/front: spec.backends[0].virtualService.virtualServiceRef: "
         "VirtualService colorapp/colortellr is not in the sources"]),
    "crd old api version": (
        lambda t: _crds(t, "apiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualService\nmetadata:\n  name: front",
                        "apiVersion: appmesh.k8s.aws/v1beta1\nkind: VirtualService\nmetadata:\n  name: front"),
        ["broken-crds.yaml: VirtualService colorapp/front: apiVersion: appmesh.k8s.aws/v1beta1 is not supported"]),
    "crd without mesh": (
        lambda t: _crds(t, "    mesh: colorapp\n    gateway", "    mesh: other\n    gateway"),
        ["VirtualNode colorapp/front: spec.meshRef: not set, and not exactly one Mesh whose namespaceSelector "
         "matches namespace 'colorapp' (found: none)"]),
    "crd route without name": (
        lambda t: _crds(t, "    - name: color-red-route\n", "    - priority: 5\n"),
        ["broken-crds.yaml: VirtualRouter colorapp/colorteller-vr: spec.routes[1].name: is required"]),
    "export missing a listed node": (
        lambda t: _export_without_describe(t, "front"),
        ["colorapp-export.json: document 13: virtualNodes[3]: lists virtualNode 'front' in mesh 'colorapp-export', "
         "but no describe output of it is in the sources"]),
    "export unknown member": (
        lambda t: _export_with(t, lambda d: d[1]["virtualNode"]["spec"]["listeners"][0].update(portMap={})),
        ["colorapp-export.json: virtualNode 'colorteller-blue' in mesh 'colorapp-export': "
         "virtualNode.spec.listeners[0].portMap: unknown property"]),
    "not a definition": (
        lambda t: _write(t / "notes.yaml", "hello: world\n"),
        ["notes.yaml: file: is neither a CloudFormation template, Kubernetes manifests nor App Mesh"]),
    "invalid yaml": (
        lambda t: _write(t / "bad.yaml", "Resources:\n  Mesh: [unclosed\n"),
        ["bad.yaml: line 3: invalid YAML"]),
}


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _export_with(tmp_path: Path, change: Callable[[list[dict]], object]) -> Path:
    documents = json.loads(EXPORT.read_text())
    change(documents)
    return _write(tmp_path / "colorapp-export.json", json.dumps(documents))


def _export_without_describe(tmp_path: Path, node: str) -> Path:
    return _export_with(tmp_path, lambda d: d.remove(next(x for x in d if x.get("virtualNode", {})
                                                          .get("virtualNodeName") == node)))


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_source_names_the_place_and_applies_nothing(case: str, local_stack: LocalStack, recorded_cli: Calls,
                                                          tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make, expected = CASES[case]
    source = make(tmp_path)
    imports = [f"--import-value={k}={v}" for k, v in IMPORTS.items()]
    code = main(["import", str(source), *imports, "--parameter", "MeshName=colorapp-never", "--endpoint-url",
                 local_stack.api_url] if source.suffix == ".yaml" and "crds" not in source.name and "notes" not in
                source.name else ["import", str(source), "--endpoint-url", local_stack.api_url])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "nothing was applied" in err or "is neither" in err
    for text in expected:
        assert text in err, err
    assert recorded_cli.writes == []


def test_every_problem_of_a_source_is_reported_at_once(local_stack: LocalStack, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    text = CFN.read_text().replace("              Port: 8080", "              Port: eighty").replace(
        "Type: AWS::AppMesh::VirtualRouter", "Type: AWS::AppMesh::Nonsense")  # the router is referenced thrice
    source = _write(tmp_path / "two.yaml", text)
    assert main(["import", str(source), "--endpoint-url", local_stack.api_url,
                 *[f"--import-value={k}={v}" for k, v in IMPORTS.items()]]) == 2
    err = capsys.readouterr().err
    assert "problem(s) in the sources; nothing was applied" in err
    assert "FrontNode: Properties.Spec.Listeners[0].PortMapping.Port" in err
    assert "ColorTellerRouter: Type: AWS::AppMesh::Nonsense" in err
    assert "ColorRoute: Properties.VirtualRouterName.Fn::GetAtt: refers to ColorTellerRouter, whose type " \
           "AWS::AppMesh::Nonsense is not supported" in err
    assert "5 problem(s)" in err  # each resource once: a reference to a bad resource does not repeat its problem


def test_a_reference_to_nothing_is_refused_at_planning(local_stack: LocalStack, recorded_cli: Calls,
                                                       tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A route to a node neither imported nor existing: refused before the mesh is created."""
    template = {"Resources": {
        "Mesh": {"Type": "AWS::AppMesh::Mesh", "Properties": {"MeshName": "dangling"}},
        "Router": {"Type": "AWS::AppMesh::VirtualRouter", "Properties": {
            "MeshName": "dangling", "VirtualRouterName": "r",
            "Spec": {"Listeners": [{"PortMapping": {"Port": 80, "Protocol": "http"}}]}}},
        "Route": {"Type": "AWS::AppMesh::Route", "Properties": {
            "MeshName": "dangling", "VirtualRouterName": "r", "RouteName": "to-nowhere",
            "Spec": {"HttpRoute": {"Match": {"Prefix": "/"},
                                   "Action": {"WeightedTargets": [{"VirtualNode": "ghost", "Weight": 1}]}}}}},
    }}
    source = _write(tmp_path / "dangling.json", json.dumps(template))
    assert main(["import", str(source), "--endpoint-url", local_stack.api_url]) == 2
    err = capsys.readouterr().err
    assert "dangling.json: Route: spec.*Route.action.weightedTargets: virtualNode 'ghost' in mesh 'dangling' is " \
           "neither in the sources nor in the target" in err
    assert recorded_cli.writes == []
    assert "dangling" not in [m["meshName"] for m in local_stack.appmesh().list_meshes()["meshes"]]
