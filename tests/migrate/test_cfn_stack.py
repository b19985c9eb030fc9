"""`Transform: [Meshplane]` end to end: the macro, then each custom resource's Create, Update and Delete.

The macro and the provider run as the local stack runs its functions (the local runtime's
worker, the environment the emulator resolved for the template); `cloudformation.StackDriver`
plays CloudFormation, with a loopback server as the response URL; the mesh is checked
through the local stack's API.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from meshplane.local.harness import LocalStack
from meshplane.migrate.sources import cfn_yaml

from .cloudformation import STACK_ID, DeployedFunction, ResponseServer, StackDriver
from .conftest import CFN, IMPORTS, import_into, mesh_contents

pytestmark = pytest.mark.emulator
APP_MESH_TYPES = {"AWS::AppMesh::Mesh": "Custom::MeshplaneMesh",
                  "AWS::AppMesh::VirtualNode": "Custom::MeshplaneVirtualNode",
                  "AWS::AppMesh::VirtualRouter": "Custom::MeshplaneVirtualRouter",
                  "AWS::AppMesh::Route": "Custom::MeshplaneRoute",
                  "AWS::AppMesh::VirtualService": "Custom::MeshplaneVirtualService",
                  "AWS::AppMesh::VirtualGateway": "Custom::MeshplaneVirtualGateway",
                  "AWS::AppMesh::GatewayRoute": "Custom::MeshplaneGatewayRoute"}


@pytest.fixture(scope="module")
def functions(local_stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    logs = tmp_path_factory.mktemp("functions")
    deployed = {lid: DeployedFunction(local_stack, lid, logs / f"{lid}.log")
                for lid in ("CfnMacroFunction", "CfnProviderFunction")}
    responses = ResponseServer()
    yield {**deployed, "responses": responses}
    responses.close()
    for function in deployed.values():
        function.close()


def macro_event(template: dict[str, Any]) -> dict[str, Any]:
    return {"region": "us-east-1", "accountId": "123456789012", "fragment": template, "transformId":
            "123456789012::Meshplane", "params": {}, "requestId": str(uuid.uuid4()), "templateParameterValues": {}}


@pytest.fixture(scope="module")
def transformed(functions: dict[str, Any]) -> dict[str, Any]:
    """The color-app template after `Transform: [Meshplane]`, from the deployed macro function."""
    (template,) = cfn_yaml.load_all(CFN.read_text())
    template["Transform"] = ["Meshplane"]
    event = macro_event(template)
    response = functions["CfnMacroFunction"].invoke(event)
    assert response["status"] == "success" and response["requestId"] == event["requestId"]
    return response["fragment"]


def test_the_macro_moves_each_app_mesh_resource_to_the_provider_and_keeps_the_rest(
        functions: dict[str, Any], transformed: dict[str, Any]) -> None:
    (original,) = cfn_yaml.load_all(CFN.read_text())
    provider = functions["CfnProviderFunction"].arn
    app_mesh = {lid for lid, r in original["Resources"].items() if r["Type"] in APP_MESH_TYPES}
    assert len(app_mesh) == 14
    assert set(transformed["Resources"]) == {f"{lid}Meshplane" for lid in app_mesh} | {"GatewayLogGroup"}
    for logical_id in app_mesh:
        before, after = original["Resources"][logical_id], transformed["Resources"][f"{logical_id}Meshplane"]
        assert after["Type"] == APP_MESH_TYPES[before["Type"]]
        assert after["Properties"]["ServiceToken"] == provider
        assert list(after["Properties"])[1:] == list(before["Properties"])
        assert after.get("Condition") == before.get("Condition")
    assert transformed["Resources"]["GatewayLogGroup"] == original["Resources"]["GatewayLogGroup"]
    # references follow the new logical ids; parameters, conditions and mappings are untouched
    route = transformed["Resources"]["ColorRouteMeshplane"]["Properties"]
    assert route["VirtualRouterName"] == {"Fn::GetAtt": ["ColorTellerRouterMeshplane", "VirtualRouterName"]}
    assert route["Spec"]["HttpRoute"]["Action"]["WeightedTargets"][1]["VirtualNode"] == \
        {"Fn::GetAtt": ["ColorTellerGreenNodeMeshplane", "VirtualNodeName"]}
    assert route["Spec"]["HttpRoute"]["RetryPolicy"] == original["Resources"]["ColorRoute"]["Properties"]["Spec"][
        "HttpRoute"]["RetryPolicy"]
    assert transformed["Outputs"] == {
        "MeshArn": {"Value": {"Ref": "MeshMeshplane"}},
        "ColorServiceName": {"Value": {"Fn::GetAtt": ["ColorTellerVirtualServiceMeshplane", "VirtualServiceName"]}}}
    for section in ("Parameters", "Conditions", "Mappings", "Description", "AWSTemplateFormatVersion"):
        assert transformed[section] == original[section]


def test_the_macro_rewrites_every_form_of_reference() -> None:
    from meshplane.migrate.cfn_macro import transform

    template = {"Resources": {
        "Mesh": {"Type": "AWS::AppMesh::Mesh", "Properties": {"MeshName": "m"}},
        "Task": {"Type": "AWS::ECS::TaskDefinition", "DependsOn": ["Mesh", "Other"], "Properties": {
            "Env": [{"Fn::Sub": "${Mesh} ${Mesh.MeshName} ${!Mesh} ${AWS::Region}"},
                    {"Fn::Sub": ["${Mesh}/${Own}", {"Own": {"Fn::GetAtt": "Mesh.Arn"}, "Mesh": "shadow"}]},
                    {"Fn::If": ["C", {"Ref": "Mesh"}, {"Ref": "AWS::NoValue"}]}]}},
        "Other": {"Type": "AWS::SQS::Queue", "DependsOn": "Mesh"}}}
    transformed, renamed = transform(template, "arn:aws:lambda:us-east-1:123456789012:function:p")
    assert renamed == {"Mesh": "MeshMeshplane"}
    task = transformed["Resources"]["Task"]
    assert task["DependsOn"] == ["MeshMeshplane", "Other"]
    assert task["Properties"]["Env"] == [
        {"Fn::Sub": "${MeshMeshplane} ${MeshMeshplane.MeshName} ${!Mesh} ${AWS::Region}"},
        {"Fn::Sub": ["${Mesh}/${Own}", {"Own": {"Fn::GetAtt": "MeshMeshplane.Arn"}, "Mesh": "shadow"}]},
        {"Fn::If": ["C", {"Ref": "MeshMeshplane"}, {"Ref": "AWS::NoValue"}]}]
    assert transformed["Resources"]["Other"]["DependsOn"] == "MeshMeshplane"


def test_the_macro_refuses_an_app_mesh_type_it_does_not_know(functions: dict[str, Any]) -> None:
    template = {"Resources": {"Thing": {"Type": "AWS::AppMesh::VirtualWidget", "Properties": {}}}}
    response = functions["CfnMacroFunction"].invoke(macro_event(template))
    assert response["status"] == "failure"
    assert response["errorMessage"].startswith("Thing: AWS::AppMesh::VirtualWidget is not an App Mesh type")


def test_a_transformed_stack_lives_through_create_update_replacement_rollback_and_delete(
        functions: dict[str, Any], transformed: dict[str, Any], local_stack: LocalStack) -> None:
    mesh = f"colorapp-macro-{uuid.uuid4().hex[:6]}"
    client = local_stack.appmesh()
    stack = StackDriver(functions["CfnProviderFunction"], functions["responses"], imports=dict(IMPORTS))
    parameters = {"MeshName": mesh}

    # Create: every resource, in dependency order; the mesh is the one `meshplane import` builds
    stack.create(transformed, parameters)
    assert [r[0] for r in stack.requests] == ["Create"] * 13
    reference = f"{mesh}-reference"
    import_into(client, CFN, parameters={"MeshName": reference})
    built, imported = mesh_contents(client, mesh), mesh_contents(client, reference)
    assert {k: (v["spec"], v["tags"]) for k, v in built.items()} == \
           {k: (v["spec"], v["tags"]) for k, v in imported.items()}

    # Ref is the ARN, Fn::GetAtt what App Mesh returned
    node = client.describe_virtual_node(meshName=mesh, virtualNodeName="colorteller-blue")["virtualNode"]
    blue = stack.resources["ColorTellerBlueNodeMeshplane"]
    assert blue.physical_id == node["metadata"]["arn"]
    assert blue.data == {"Arn": node["metadata"]["arn"], "Uid": node["metadata"]["uid"], "MeshName": mesh,
                         "MeshOwner": "123456789012", "ResourceOwner": "123456789012",
                         "VirtualNodeName": "colorteller-blue"}
    assert stack.resources["ColorRouteMeshplane"].data["VirtualRouterName"] == "colorteller-vr_colorapp"
    assert stack.resources["ColorGatewayRouteMeshplane"].data["VirtualGatewayName"] == "ingress-gw_colorapp"

    # Update in place: the canary moves on; only the route is sent an update, its ARN stays
    stack.requests.clear()
    stack.update(transformed, {**parameters, "BlueWeight": "50", "GreenWeight": "50"})
    assert [(r[0], r[1]) for r in stack.requests] == [("Update", "ColorRouteMeshplane")]
    route = client.describe_route(meshName=mesh, virtualRouterName="colorteller-vr_colorapp",
                                  routeName="color-route")["route"]
    assert [t["weight"] for t in route["spec"]["httpRoute"]["action"]["weightedTargets"]] == [50, 50]
    assert route["metadata"]["version"] == 2
    assert stack.resources["ColorRouteMeshplane"].physical_id == route["metadata"]["arn"]

    # Replacement: a new route name is a new resource (new physical id); the old one goes in the cleanup phase
    renamed = copy.deepcopy(transformed)
    renamed["Resources"]["ColorRouteMeshplane"]["Properties"]["RouteName"] = "color-route-v2"
    old_arn = stack.resources["ColorRouteMeshplane"].physical_id
    stack.requests.clear()
    assert stack.update(renamed, {**parameters, "BlueWeight": "50", "GreenWeight": "50"}) is None
    assert [(r[0], r[1]) for r in stack.requests] == [("Update", "ColorRouteMeshplane"),
                                                      ("Delete", "ColorRouteMeshplane")]
    assert stack.resources["ColorRouteMeshplane"].physical_id == old_arn.replace("color-route", "color-route-v2")
    routes = client.list_routes(meshName=mesh, virtualRouterName="colorteller-vr_colorapp")["routes"]
    assert sorted(r["routeName"] for r in routes) == ["color-red-route", "color-route-v2"]

    # A refused update is FAILED with the reason; CloudFormation rolls back what it had updated before it
    both = copy.deepcopy(renamed)
    logging = both["Resources"]["FrontNodeMeshplane"]["Properties"]["Spec"]["Logging"]
    logging["AccessLog"]["File"]["Path"] = "/dev/stderr"
    stack.requests.clear()
    failed = stack.update(both, {**parameters, "BlueWeight": "50", "GreenWeight": "101"})
    assert failed is not None and failed["Status"] == "FAILED"
    assert "Spec.HttpRoute.Action.WeightedTargets[1].Weight: Input should be less than or equal to 100" \
        in failed["Reason"]
    assert [(r[0], r[1], r[2]["Status"]) for r in stack.requests] == [
        ("Update", "FrontNodeMeshplane", "SUCCESS"), ("Update", "ColorRouteMeshplane", "FAILED"),
        ("Update", "FrontNodeMeshplane", "SUCCESS")]
    front = client.describe_virtual_node(meshName=mesh, virtualNodeName="front")["virtualNode"]
    assert front["spec"]["logging"]["accessLog"]["file"]["path"] == "/dev/stdout"  # rolled back
    assert front["metadata"]["version"] == 3  # changed, then changed back
    route = client.describe_route(meshName=mesh, virtualRouterName="colorteller-vr_colorapp",
                                  routeName="color-route-v2")["route"]
    assert [t["weight"] for t in route["spec"]["httpRoute"]["action"]["weightedTargets"]] == [50, 50]

    # Delete: everything, children first; the mesh is gone
    stack.delete()
    assert mesh not in [m["meshName"] for m in client.list_meshes()["meshes"]]


def test_a_deployed_stack_adding_the_transform_adopts_what_the_import_made(
        functions: dict[str, Any], transformed: dict[str, Any], local_stack: LocalStack) -> None:
    """The move of a live App Mesh stack: `meshplane import` first, then the stack with the transform declares the
    same resources; each Create adopts its resource as it is (no new version), and Ref/GetAtt work as before."""
    mesh = f"colorapp-adopt-{uuid.uuid4().hex[:6]}"
    client = local_stack.appmesh()
    import_into(client, CFN, parameters={"MeshName": mesh})
    before = mesh_contents(client, mesh)
    stack = StackDriver(functions["CfnProviderFunction"], functions["responses"], imports=dict(IMPORTS))
    stack.create(transformed, {"MeshName": mesh})
    assert [r[2]["Status"] for r in stack.requests] == ["SUCCESS"] * 13
    assert mesh_contents(client, mesh) == before
    assert client.describe_mesh(meshName=mesh)["mesh"]["metadata"]["version"] == 1
    node = client.describe_virtual_node(meshName=mesh, virtualNodeName="front")["virtualNode"]
    assert node["metadata"]["version"] == 1
    assert stack.resources["FrontNodeMeshplane"].physical_id == node["metadata"]["arn"]
    stack.delete()
    assert mesh not in [m["meshName"] for m in client.list_meshes()["meshes"]]


def test_an_unnamed_resource_gets_a_generated_name_and_a_new_one_on_replacement(
        functions: dict[str, Any], local_stack: LocalStack) -> None:
    mesh = f"unnamed-{uuid.uuid4().hex[:6]}"
    template = {"Parameters": {"Name": {"Type": "String"}}, "Resources": {
        "Mesh": {"Type": "AWS::AppMesh::Mesh", "Properties": {"MeshName": {"Ref": "Name"}}},
        "Node": {"Type": "AWS::AppMesh::VirtualNode", "Properties": {
            "MeshName": {"Fn::GetAtt": ["Mesh", "MeshName"]},
            "Spec": {"Listeners": [{"PortMapping": {"Port": 8080, "Protocol": "http"}}]}}}}}
    fragment = functions["CfnMacroFunction"].invoke(macro_event(template))["fragment"]
    stack = StackDriver(functions["CfnProviderFunction"], functions["responses"])
    stack.create(fragment, {"Name": mesh})
    name = stack.resources["NodeMeshplane"].data["VirtualNodeName"]
    assert name.startswith("Node-") and len(name) == len("Node-") + 12
    spec_changed = copy.deepcopy(fragment)
    spec_changed["Resources"]["NodeMeshplane"]["Properties"]["Spec"]["Listeners"][0]["PortMapping"]["Port"] = 9090
    stack.update(spec_changed, {"Name": mesh})
    assert stack.resources["NodeMeshplane"].data["VirtualNodeName"] == name  # an update in place keeps the name
    client = local_stack.appmesh()
    assert client.describe_virtual_node(meshName=mesh, virtualNodeName=name)["virtualNode"]["spec"]["listeners"][0][
        "portMapping"]["port"] == 9090

    # another mesh replaces the mesh and the node; the unnamed node gets a new name, the old ones are cleaned up
    moved = f"{mesh}-moved"
    old_node = stack.resources["NodeMeshplane"]
    assert stack.update(spec_changed, {"Name": moved}) is None
    new_node = stack.resources["NodeMeshplane"]
    assert new_node.data["VirtualNodeName"] != name and new_node.data["VirtualNodeName"].startswith("Node-")
    assert new_node.physical_id != old_node.physical_id and new_node.data["MeshName"] == moved
    meshes = [m["meshName"] for m in client.list_meshes()["meshes"]]
    assert moved in meshes and mesh not in meshes
    stack.delete()
    assert moved not in [m["meshName"] for m in client.list_meshes()["meshes"]]


def test_failures_always_answer_failed_with_a_reason(functions: dict[str, Any], local_stack: LocalStack,
                                                     tmp_path: Path) -> None:
    provider, responses = functions["CfnProviderFunction"], functions["responses"]

    def request(request_type: str, resource_type: str, properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
        request_id = str(uuid.uuid4())
        provider.invoke({"RequestType": request_type, "ResponseURL": responses.url(request_id), "StackId": STACK_ID,
                         "RequestId": request_id, "LogicalResourceId": "Thing", "ResourceType": resource_type,
                         "ResourceProperties": {"ServiceToken": provider.arn, **properties}, **extra})
        return responses.take(request_id)

    unknown = request("Create", "Custom::MeshplaneWidget", {})
    assert unknown["Status"] == "FAILED" and "'Custom::MeshplaneWidget' is not a Custom::Meshplane<Type>" \
        in unknown["Reason"]
    missing_mesh = request("Create", "Custom::MeshplaneVirtualNode", {"MeshName": "no-such-mesh",
                                                                      "VirtualNodeName": "n", "Spec": {}})
    assert missing_mesh["Status"] == "FAILED"
    assert missing_mesh["Reason"] == "NotFoundException: mesh 'no-such-mesh' does not exist"
    # the rollback of a failed Create deletes the physical id it was given: nothing, successfully
    rollback = request("Delete", "Custom::MeshplaneVirtualNode", {"MeshName": "no-such-mesh"},
                       PhysicalResourceId=missing_mesh["PhysicalResourceId"])
    assert rollback["Status"] == "SUCCESS"
    bad_property = request("Create", "Custom::MeshplaneMesh", {"MeshName": "m", "Color": "blue"})
    assert bad_property["Status"] == "FAILED" and "Color: unknown property of AWS::AppMesh::Mesh" in \
        bad_property["Reason"]
    assert responses.headers[f"/responses/{bad_property['RequestId']}"].get("Content-Type", "") == ""
