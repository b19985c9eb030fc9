"""Every API call is authorized as App Mesh did: the App Mesh action on its resource ARN, for the signed caller.

The callers are IAM users and role sessions of the emulator; the policies are theirs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError
from meshplane import signing
from meshplane.model.ids import Kind, ResourceKey

from authz.conftest import ALL_APPMESH, AuthzStack, node_spec
from authz.iamlab import ACCOUNT, Keys

Unique = Callable[[str], str]


def forbidden(call: Callable[[], Any], client: Any) -> str:
    """The ForbiddenException message of a refused call, asserting its App Mesh shape on the way."""
    with pytest.raises(client.exceptions.ForbiddenException) as refused:
        call()
    response = refused.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "ForbiddenException"
    return str(response["Error"]["Message"])


def mesh_of(stack: AuthzStack, unique: Unique, base: str = "mesh", **tags: str) -> str:
    name = unique(base)
    stack.appmesh(stack.admin).create_mesh(meshName=name, tags=[{"key": k, "value": v} for k, v in tags.items()])
    return name


def test_a_caller_without_any_allow_is_refused_with_app_mesh_forbidden(stack: AuthzStack, unique: Unique) -> None:
    nobody = stack.lab.user()
    client = stack.appmesh(nobody)
    name = unique("mesh")
    message = forbidden(lambda: client.create_mesh(meshName=name), client)
    assert message.startswith(f"User: {nobody.arn} is not authorized to perform: appmesh:CreateMesh on resource: "
                              f"{stack.arn(f'mesh/{name}')} ")
    assert "no identity-based policy allows" in message
    assert stack.store.get_item(_mesh_key(name)) is None
    forbidden(client.list_meshes, client)  # ListMeshes is authorized on "*"


def test_resource_arns_scope_what_a_caller_may_do(stack: AuthzStack, unique: Unique) -> None:
    mine, theirs = mesh_of(stack, unique, "mine"), mesh_of(stack, unique, "theirs")
    keys = stack.lab.user({"Effect": "Allow", "Action": "appmesh:*",
                           "Resource": [stack.arn(f"mesh/{mine}"), stack.arn(f"mesh/{mine}/*")]})
    client = stack.appmesh(keys)
    assert client.describe_mesh(meshName=mine)["mesh"]["meshName"] == mine
    client.create_virtual_node(meshName=mine, virtualNodeName="front", spec=node_spec())
    assert [n["virtualNodeName"] for n in client.list_virtual_nodes(meshName=mine)["virtualNodes"]] == ["front"]

    message = forbidden(lambda: client.describe_mesh(meshName=theirs), client)
    assert f"appmesh:DescribeMesh on resource: {stack.arn(f'mesh/{theirs}')}" in message
    message = forbidden(lambda: client.create_virtual_node(meshName=theirs, virtualNodeName="front",
                                                           spec=node_spec()), client)
    assert f"appmesh:CreateVirtualNode on resource: {stack.arn(f'mesh/{theirs}/virtualNode/front')}" in message
    # a List is authorized on its parent: the mesh here
    assert stack.arn(f"mesh/{theirs} ") in forbidden(lambda: client.list_virtual_nodes(meshName=theirs), client)
    assert stack.store.get_item(_node_key(theirs, "front")) is None


def test_list_routes_is_authorized_on_the_router(stack: AuthzStack, unique: Unique) -> None:
    mesh = mesh_of(stack, unique)
    admin = stack.appmesh(stack.admin)
    for router in ("open", "closed"):
        admin.create_virtual_router(meshName=mesh, virtualRouterName=router,
                                    spec={"listeners": [{"portMapping": {"port": 80, "protocol": "http"}}]})
    keys = stack.lab.user({"Effect": "Allow", "Action": "appmesh:ListRoutes",
                           "Resource": stack.arn(f"mesh/{mesh}/virtualRouter/open")})
    client = stack.appmesh(keys)
    assert client.list_routes(meshName=mesh, virtualRouterName="open")["routes"] == []
    assert f"resource: {stack.arn(f'mesh/{mesh}/virtualRouter/closed')} " in forbidden(
        lambda: client.list_routes(meshName=mesh, virtualRouterName="closed"), client)


def test_resource_tag_conditions_use_the_stored_tags(stack: AuthzStack, unique: Unique) -> None:
    mesh = mesh_of(stack, unique)
    admin = stack.appmesh(stack.admin)
    admin.create_virtual_node(meshName=mesh, virtualNodeName="red", spec=node_spec(),
                              tags=[{"key": "team", "value": "red"}])
    admin.create_virtual_node(meshName=mesh, virtualNodeName="blue", spec=node_spec(),
                              tags=[{"key": "team", "value": "blue"}])
    keys = stack.lab.user({"Effect": "Allow", "Action": ["appmesh:DescribeVirtualNode", "appmesh:TagResource"],
                           "Resource": "*", "Condition": {"StringEquals": {"aws:ResourceTag/team": "red"}}})
    client = stack.appmesh(keys)
    assert client.describe_virtual_node(meshName=mesh, virtualNodeName="red")["virtualNode"]["virtualNodeName"] == "red"
    forbidden(lambda: client.describe_virtual_node(meshName=mesh, virtualNodeName="blue"), client)

    # retagging is decided on the tags stored when the call is made
    blue = stack.arn(f"mesh/{mesh}/virtualNode/blue")
    forbidden(lambda: client.tag_resource(resourceArn=blue, tags=[{"key": "team", "value": "red"}]), client)
    admin.tag_resource(resourceArn=blue, tags=[{"key": "team", "value": "red"}])
    assert client.describe_virtual_node(meshName=mesh, virtualNodeName="blue")["virtualNode"]["virtualNodeName"] \
        == "blue"


def test_request_tag_conditions_use_the_tags_of_the_request(stack: AuthzStack, unique: Unique) -> None:
    mesh = mesh_of(stack, unique)
    condition = {"StringEquals": {"aws:RequestTag/team": "red"},
                 "ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}
    keys = stack.lab.user({"Effect": "Allow", "Action": ["appmesh:CreateVirtualNode", "appmesh:TagResource"],
                           "Resource": "*", "Condition": condition})
    client = stack.appmesh(keys)
    created = client.create_virtual_node(meshName=mesh, virtualNodeName="red", spec=node_spec(),
                                         tags=[{"key": "team", "value": "red"}])
    assert created["virtualNode"]["virtualNodeName"] == "red"
    for name, tags in (("blue", [{"key": "team", "value": "blue"}]), ("none", []),
                       ("extra", [{"key": "team", "value": "red"}, {"key": "cost", "value": "x"}])):
        forbidden(lambda n=name, t=tags: client.create_virtual_node(meshName=mesh, virtualNodeName=n,
                                                                  spec=node_spec(), tags=t), client)
        assert stack.store.get_item(_node_key(mesh, name)) is None


def test_a_create_with_tags_also_needs_tag_resource(stack: AuthzStack, unique: Unique) -> None:
    mesh = mesh_of(stack, unique)
    keys = stack.lab.user({"Effect": "Allow", "Action": "appmesh:CreateVirtualNode", "Resource": "*"})
    client = stack.appmesh(keys)
    client.create_virtual_node(meshName=mesh, virtualNodeName="plain", spec=node_spec())
    message = forbidden(lambda: client.create_virtual_node(meshName=mesh, virtualNodeName="tagged", spec=node_spec(),
                                                           tags=[{"key": "team", "value": "red"}]), client)
    assert "appmesh:TagResource" in message


def test_an_explicit_deny_overrides_an_allow(stack: AuthzStack, unique: Unique) -> None:
    mesh = mesh_of(stack, unique)
    keys = stack.lab.user(ALL_APPMESH, {"Effect": "Deny", "Action": "appmesh:DeleteMesh",
                                        "Resource": stack.arn(f"mesh/{mesh}")})
    client = stack.appmesh(keys)
    assert client.describe_mesh(meshName=mesh)["mesh"]["meshName"] == mesh
    message = forbidden(lambda: client.delete_mesh(meshName=mesh), client)
    assert message.endswith("with an explicit deny in an identity-based policy")
    assert stack.store.get_item(_mesh_key(mesh)) is not None


def test_writes_are_also_authorized_on_the_resources_they_name(stack: AuthzStack, unique: Unique) -> None:
    mesh = mesh_of(stack, unique)
    admin = stack.appmesh(stack.admin)
    for node in ("blue", "green"):
        admin.create_virtual_node(meshName=mesh, virtualNodeName=node, spec=node_spec())
    admin.create_virtual_router(meshName=mesh, virtualRouterName="r",
                                spec={"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]})
    keys = stack.lab.user({"Effect": "Allow", "Action": "appmesh:CreateRoute",
                           "Resource": [stack.arn(f"mesh/{mesh}/virtualRouter/r/route/*"),
                                        stack.arn(f"mesh/{mesh}/virtualNode/blue")]})
    client = stack.appmesh(keys)

    def route(name: str, target: str) -> Any:
        spec = {"httpRoute": {"match": {"prefix": "/"},
                              "action": {"weightedTargets": [{"virtualNode": target, "weight": 1}]}}}
        return client.create_route(meshName=mesh, virtualRouterName="r", routeName=name, spec=spec)

    assert route("to-blue", "blue")["route"]["routeName"] == "to-blue"
    message = forbidden(lambda: route("to-green", "green"), client)
    assert f"appmesh:CreateRoute on resource: {stack.arn(f'mesh/{mesh}/virtualNode/green')}" in message


def test_an_allowed_call_answers_exactly_as_without_authorization(stack: AuthzStack, unique: Unique) -> None:
    mesh = mesh_of(stack, unique)
    keys = stack.lab.user({"Effect": "Allow", "Action": "appmesh:*", "Resource": stack.arn(f"mesh/{mesh}/*")})
    created = stack.appmesh(keys).create_virtual_node(meshName=mesh, virtualNodeName="front",
                                                      spec=node_spec(), tags=[{"key": "team", "value": "red"}])
    described = stack.appmesh(stack.admin).describe_virtual_node(meshName=mesh, virtualNodeName="front")
    for answer in (created, described):
        answer.pop("ResponseMetadata")
    assert created == described
    node = created["virtualNode"]
    assert node["metadata"]["arn"] == stack.arn(f"mesh/{mesh}/virtualNode/front")
    assert node["metadata"]["meshOwner"] == node["metadata"]["resourceOwner"] == ACCOUNT
    assert node["spec"]["listeners"] == node_spec()["listeners"]
    assert node["status"] == {"status": "ACTIVE"}


def test_a_role_session_is_authorized_by_its_role_and_its_tags(stack: AuthzStack, unique: Unique) -> None:
    mine, theirs = mesh_of(stack, unique, "mine"), mesh_of(stack, unique, "theirs")
    role = stack.lab.role({"Effect": "Allow", "Action": "appmesh:Describe*",
                           "Resource": "arn:aws:appmesh:*:*:mesh/${aws:PrincipalTag/mesh}"}, tags={"mesh": mine})
    session = stack.lab.session(role)
    client = stack.appmesh(session)
    assert client.describe_mesh(meshName=mine)["mesh"]["meshName"] == mine
    assert forbidden(lambda: client.describe_mesh(meshName=theirs), client).startswith(f"User: {session.arn} ")


def test_signatures_for_execute_api_are_accepted(stack: AuthzStack, unique: Unique) -> None:
    mesh = mesh_of(stack, unique)
    client = stack.appmesh(stack.admin)
    signing.register(client)  # as deployed: the signature is re-scoped to API Gateway's service
    assert client.describe_mesh(meshName=mesh)["mesh"]["meshName"] == mesh


@pytest.mark.parametrize("attack", ["unsigned", "wrong-secret", "unknown-key"])
def test_unauthenticated_calls_never_reach_the_api(stack: AuthzStack, unique: Unique, attack: str) -> None:
    name = unique("mesh")
    if attack == "unsigned":
        client, code = stack.appmesh(stack.admin, signature_version=UNSIGNED), "MissingAuthenticationTokenException"
    elif attack == "wrong-secret":
        client = stack.appmesh(Keys(stack.admin.access_key, "w" * 40, stack.admin.arn))
        code = "InvalidSignatureException"
    else:
        client = stack.appmesh(Keys("AKIA" + "0" * 16, "w" * 40, stack.admin.arn))
        code = "UnrecognizedClientException"
    with pytest.raises(ClientError) as refused:
        client.create_mesh(meshName=name)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert refused.value.response["Error"]["Code"] == code
    assert stack.store.get_item(_mesh_key(name)) is None


def _mesh_key(name: str) -> ResourceKey:
    return ResourceKey(Kind.MESH, name, name)


def _node_key(mesh: str, name: str) -> ResourceKey:
    return ResourceKey(Kind.VIRTUAL_NODE, mesh, name)
